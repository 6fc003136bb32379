//! The test oracle for [`wire`](crate::wire): what prost's generated decoder
//! makes of a payload, with the column rules (lengths, running sums) applied
//! the plain way. The reader's property tests and the `batch` fuzz target
//! (`fuzz/`) compare [`BatchView`](crate::wire::BatchView) against it: same
//! verdict, same values. Compiled for tests and with the `oracle` feature
//! only; nothing in the services uses it.

use prost::Message;

use crate::v1;
use crate::wire::WireReading;

/// Every socket entry of a batch, in wire order: its id and its readings.
pub type Sockets = Vec<(String, Vec<WireReading>)>;

/// The sockets prost reads from `payload`, or `Err(())` when prost refuses it
/// or a column breaks the schema's rules (a wrong length, a running sum that
/// overflows).
#[allow(clippy::result_unit_err)]
pub fn decode(payload: &[u8]) -> Result<Sockets, ()> {
    let wire = v1::ReadingBatch::decode(payload).map_err(|_| ())?;
    let mut sockets = Vec::new();
    for s in &wire.sockets {
        let n = s.timestamp_delta_ms.len();
        let fits = |len: usize, optional: bool| len == n || optional && len == 0;
        if !fits(s.power_delta_dw.len(), false)
            || !fits(s.energy_delta_mwh.len(), true)
            || !fits(s.voltage_dv.len(), true)
            || !fits(s.current_ma.len(), true)
        {
            return Err(());
        }
        let sums = |deltas: &[i64], start: i64| -> Result<Vec<i64>, ()> {
            let mut sum = start;
            deltas
                .iter()
                .map(|d| {
                    sum = sum.checked_add(*d).ok_or(())?;
                    Ok(sum)
                })
                .collect()
        };
        let timestamps = sums(&s.timestamp_delta_ms, wire.base_timestamp_ms)?;
        let power = sums(&s.power_delta_dw, 0)?;
        let energy = sums(&s.energy_delta_mwh, 0)?;
        let readings = (0..n)
            .map(|i| WireReading {
                timestamp_ms: timestamps[i],
                power_dw: power[i],
                energy_mwh: energy.get(i).copied(),
                voltage_dv: s.voltage_dv.get(i).copied(),
                current_ma: s.current_ma.get(i).copied(),
            })
            .collect();
        sockets.push((s.socket_id.clone(), readings));
    }
    Ok(sockets)
}

/// The device id and sequence number prost reads, for comparing the
/// batch-level fields.
#[allow(clippy::result_unit_err)]
pub fn header(payload: &[u8]) -> Result<(String, u64), ()> {
    let wire = v1::ReadingBatch::decode(payload).map_err(|_| ())?;
    Ok((wire.device_id, wire.sequence))
}
