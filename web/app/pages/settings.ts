// Settings: the household's time zone and tariff (owner edits, viewers
// read), and its members (the owner invites viewers and removes them).
//
// Data: GET /api/household (via household.ts), PUT
// /api/household/settings, GET /api/household/members, POST
// /api/household/invites, DELETE /api/household/members/{id}.

import { field, h, replace } from "../dom";
import * as api from "../api/endpoints";
import type { Band, Member, Tariff } from "../api/types";
import { confirmAction } from "../components/confirm";
import { copyButton } from "../components/copy";
import { clearError, errorBox, loading, showError, whileBusy } from "../components/feedback";
import * as format from "../format";
import { household, isOwner, setHousehold } from "../household";
import type { PageContext } from "../router";
import { currentUser } from "../session";

const MAX_BANDS = 12;

/** Every IANA zone the browser knows, with `current` included even if it does not. */
function timeZones(current: string): string[] {
  let zones: string[] = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    // Older browsers: the current zone and UTC only.
  }
  const all = new Set([...zones, "UTC", current]);
  return [...all].sort((a, b) => a.localeCompare(b));
}

function number(input: HTMLInputElement): number {
  return input.value.trim() === "" ? NaN : Number(input.value);
}

export async function render(root: HTMLElement, { signal }: PageContext): Promise<void> {
  const owner = isOwner();
  const settings = household();

  // --- time zone and tariff ---
  const zone = h("select", { name: "time_zone" }, timeZones(settings.time_zone).map((z) => h("option", { value: z }, z.replace(/_/g, " "))));
  zone.value = settings.time_zone;
  const tariff = settings.tariff;
  const currency = h("input", {
    type: "text", name: "currency", maxlength: "3", pattern: "[A-Z]{3}", autocapitalize: "characters",
    spellcheck: "false", value: tariff?.currency ?? guessCurrency(), size: "4",
  });
  const price = h("input", { type: "number", name: "price_per_kwh", min: "0", max: "100", step: "any", inputmode: "decimal", value: tariff ? String(tariff.price_per_kwh) : "" });
  const daily = h("input", { type: "number", name: "daily_charge", min: "0", max: "100", step: "any", inputmode: "decimal", value: tariff ? String(tariff.daily_charge) : "" });
  const bandList = h("ol", { class: "bands" });
  const addBand = h("button", { type: "button", class: "secondary small" }, "Add time-of-use band");
  const save = h("button", { type: "submit" }, "Save");
  const saved = h("p", { class: "success", role: "status" });
  const formError = errorBox();

  const bands: { row: HTMLElement; from: HTMLInputElement; to: HTMLInputElement; price: HTMLInputElement }[] = [];
  const renumber = () => {
    bands.forEach((band, i) => {
      const n = i + 1;
      const labels = band.row.querySelectorAll("label");
      const texts = [`Band ${n} from`, `Band ${n} to`, `Band ${n} price`];
      labels.forEach((label, j) => (label.textContent = texts[j] ?? ""));
      const remove = band.row.querySelector("button");
      if (remove) remove.textContent = `Remove band ${n}`;
    });
    addBand.disabled = !owner || bands.length >= MAX_BANDS;
  };
  const appendBand = (band?: Band) => {
    const from = h("input", { type: "time", required: true, value: band?.from ?? "07:00" });
    const to = h("input", { type: "time", required: true, value: band?.to ?? "23:00" });
    const bandPrice = h("input", { type: "number", required: true, min: "0", max: "100", step: "any", inputmode: "decimal", value: band ? String(band.price_per_kwh) : "" });
    const entry = { row: h("li", { class: "band" }), from, to, price: bandPrice };
    const remove = h("button", { type: "button", class: "secondary small" }, "Remove band");
    remove.addEventListener("click", () => {
      bands.splice(bands.indexOf(entry), 1);
      entry.row.remove();
      renumber();
      addBand.focus();
    });
    entry.row.append(field("Band from", from), field("Band to", to), field("Band price", bandPrice), owner ? remove : "");
    bands.push(entry);
    bandList.append(entry.row);
    renumber();
    return entry;
  };
  for (const band of tariff?.bands ?? []) appendBand(band);
  addBand.addEventListener("click", () => appendBand().from.focus());

  const fields = h("fieldset", { disabled: !owner },
    h("legend", { class: "sr-only" }, "Household settings"),
    field("Time zone", zone, "Days, weeks and months, and the times shown, follow this zone."),
    h("fieldset", { class: "tariff" },
      h("legend", {}, "Tariff"),
      h("p", { class: "hint" }, "Leave the price per kWh empty for no tariff (no costs shown). A time-of-use band's price applies from its start up to its end (an end before the start runs past midnight); other times use the price per kWh."),
      h("div", { class: "row" },
        field("Currency", currency, "Three letters, e.g. EUR."),
        field("Price per kWh", price),
        field("Daily charge", daily, "Per day, whatever you use."),
      ),
      h("h3", {}, "Time-of-use bands"),
      bandList,
      owner ? addBand : null,
    ),
  );
  const form = h("form", { class: "card settings", "aria-labelledby": "settings-heading" },
    h("h2", { id: "settings-heading" }, "Household"),
    owner ? null : h("p", { class: "hint" }, "Only the household's owner can change these settings."),
    fields,
    formError,
    owner ? h("div", { class: "actions" }, save) : null,
    saved,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(formError);
    saved.textContent = "";
    let next: Tariff | null;
    try {
      next = readTariff();
    } catch (e) {
      showError(formError, e);
      return;
    }
    try {
      const updated = await whileBusy(save, "Saving…", () => api.saveSettings({ time_zone: zone.value, tariff: next }));
      setHousehold(updated);
      saved.textContent = `Saved at ${format.clock(Date.now())}.`;
    } catch (e) {
      showError(formError, e);
    }
  });

  /** The tariff the form describes; throws a message for what the API would refuse anyway. */
  function readTariff(): Tariff | null {
    if (price.value.trim() === "" && bands.length === 0) return null;
    const code = currency.value.trim().toUpperCase();
    if (!/^[A-Z]{3}$/.test(code)) throw new Error("the currency must be three letters, e.g. EUR.");
    const perKwh = number(price);
    const perDay = daily.value.trim() === "" ? 0 : number(daily);
    const valid = (p: number) => Number.isFinite(p) && p >= 0 && p <= 100;
    if (!valid(perKwh)) throw new Error("the price per kWh must be a number from 0 to 100.");
    if (!valid(perDay)) throw new Error("the daily charge must be a number from 0 to 100.");
    const list = bands.map((band, i) => {
      const p = number(band.price);
      if (!valid(p)) throw new Error(`band ${i + 1}: the price must be a number from 0 to 100.`);
      if (band.from.value === band.to.value) throw new Error(`band ${i + 1}: the start and end must differ.`);
      return { from: band.from.value.slice(0, 5), to: band.to.value.slice(0, 5), price_per_kwh: p };
    });
    return { currency: code, price_per_kwh: perKwh, daily_charge: perDay, bands: list };
  }

  // --- members ---
  const memberList = h("div", {}, loading("Loading members…"));
  const membersError = errorBox();
  const inviteEmail = h("input", { type: "email", required: true, autocomplete: "off" });
  const inviteButton = h("button", { type: "submit" }, "Invite member");
  const inviteResult = h("div", {});
  const inviteForm = h("form", { class: "inline-form", "aria-label": "Invite a member" },
    field("Email", inviteEmail, "They join as a viewer: they see everything and change nothing."),
    h("div", { class: "actions" }, inviteButton),
  );
  inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(membersError);
    try {
      const invite = await whileBusy(inviteButton, "Inviting…", () => api.invite(inviteEmail.value.trim()));
      const link = `${location.origin}/register?invite=${encodeURIComponent(invite.invite_token)}`;
      replace(inviteResult,
        h("div", { class: "card credentials" },
          h("p", {}, `Invitation for ${invite.email}, valid until ${format.dateTime(invite.expires_at * 1000)}. Pass them this token (it is shown only once):`),
          h("p", {}, h("code", { "data-testid": "invite-token" }, invite.invite_token), " ", copyButton("Copy invite token", () => invite.invite_token)),
          h("p", {}, "Or send them this link: ", h("code", {}, link), " ", copyButton("Copy invite link", () => link)),
        ),
      );
      inviteEmail.value = "";
    } catch (e) {
      showError(membersError, e);
    }
  });

  root.append(
    h("h1", {}, "Settings"),
    form,
    h("section", { class: "card", "aria-labelledby": "members-heading" },
      h("h2", { id: "members-heading" }, "Members"),
      membersError,
      memberList,
      owner ? inviteForm : null,
      inviteResult,
    ),
  );

  async function loadMembers(): Promise<void> {
    try {
      const members = await api.members(signal);
      replace(memberList, memberTable(members));
    } catch (e) {
      showError(membersError, e);
      replace(memberList);
    }
  }

  function memberTable(members: Member[]): HTMLElement {
    const me = currentUser()?.user_id;
    return h("ul", { class: "members" }, members.map((member) => {
      const remove = owner && member.role === "viewer"
        ? h("button", { type: "button", class: "danger small", "aria-label": `Remove ${member.email}` }, "Remove")
        : null;
      remove?.addEventListener("click", async () => {
        if (!(await confirmAction(`Remove ${member.email}?`, "They are logged out and can no longer see this household."))) return;
        try {
          await whileBusy(remove, "Removing…", () => api.removeMember(member.user_id));
          await loadMembers();
        } catch (e) {
          showError(membersError, e);
        }
      });
      return h("li", { "data-testid": "member-row" },
        h("span", {}, member.email, member.user_id === me ? " (you)" : ""),
        h("span", { class: "badge", "data-state": member.role }, member.role === "owner" ? "Owner" : "Viewer"),
        h("span", { class: "hint" }, `since ${format.date(member.created_at * 1000)}`),
        remove,
      );
    }));
  }

  await loadMembers();
}

/** A first guess at the currency from the browser's locale (only a default for a new tariff). */
function guessCurrency(): string {
  const region = new Intl.Locale(navigator.language).maximize().region ?? "";
  const euro = ["AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK"];
  if (euro.includes(region)) return "EUR";
  const known: Record<string, string> = { GB: "GBP", US: "USD", CH: "CHF", SE: "SEK", NO: "NOK", DK: "DKK", PL: "PLN", CZ: "CZK", CA: "CAD", AU: "AUD", JP: "JPY" };
  return known[region] ?? "EUR";
}
