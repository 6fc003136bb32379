// Devices: the household's agents. The owner adds one (its id, its secret
// shown once, and the command that starts the agent on a Raspberry Pi),
// renames it, rotates its secret, deletes it, and names its sockets.
// Viewers see the list.
//
// Data: GET /api/devices (devices and socket names), GET /api/sockets
// (socket ids each device reports, so they can be named), POST
// /api/devices, PATCH /api/devices/{id}, POST /api/devices/{id}/secret,
// DELETE /api/devices/{id}, PUT /api/devices/{id}/sockets/{socket}.

import { field, h, replace } from "../dom";
import * as api from "../api/endpoints";
import type { Device, DeviceCredentials } from "../api/types";
import { confirmAction } from "../components/confirm";
import { copyButton } from "../components/copy";
import { clearError, errorBox, loading, showError, whileBusy } from "../components/feedback";
import * as format from "../format";
import { isOwner, loadNames } from "../household";
import type { PageContext } from "../router";

/** The broker host the agent connects to: this page's host (IPv6 in brackets). */
function brokerHost(): string {
  const host = location.hostname;
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** Quotes a value for a POSIX shell when it needs it. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_\-.,:/@%+=]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The command that starts the agent on a Pi with simulated sockets. */
export function agentCommand(id: string, secret: string, host = brokerHost()): string {
  const url = `amqp://${encodeURIComponent(id)}@${host}:5672/%2f`;
  return `DEVICE_SECRET=${shellQuote(secret)} device-agent --device-id ${shellQuote(id)} --amqp-url ${shellQuote(url)} --source simulated --sockets 4`;
}

export async function render(root: HTMLElement, { signal }: PageContext): Promise<void> {
  const owner = isOwner();
  const error = errorBox();
  const list = h("div", { class: "device-list" }, loading("Loading devices…"));
  const credentials = h("div", {});

  // "Add device" reveals the form; "Create" registers.
  const nameInput = h("input", { type: "text", required: true, maxlength: "64", autocomplete: "off" });
  const createButton = h("button", { type: "submit" }, "Create");
  const addError = errorBox();
  const addForm = h("form", { class: "card inline-form", hidden: true, "aria-label": "Add a device" },
    field("Device name", nameInput, "e.g. Kitchen Pi"),
    addError,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => { addForm.hidden = true; addButton.focus(); } }, "Cancel"),
      createButton,
    ),
  );
  const addButton = h("button", { type: "button", onclick: () => { addForm.hidden = false; nameInput.focus(); } }, "Add device");
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(addError);
    try {
      const created = await whileBusy(createButton, "Creating…", () => api.createDevice(nameInput.value.trim()));
      nameInput.value = "";
      addForm.hidden = true;
      showCredentials(created, "Device added");
      await reload();
    } catch (e) {
      showError(addError, e);
    }
  });

  root.append(
    h("h1", {}, "Devices"),
    h("p", { class: "lead" }, "A device is the agent on a Raspberry Pi that reads your smart sockets and sends their readings to Wattline."),
    owner ? h("div", { class: "toolbar" }, addButton) : h("p", { class: "hint" }, "Only the household's owner can add or change devices."),
    addForm,
    credentials,
    error,
    list,
  );

  function showCredentials(result: DeviceCredentials, heading: string): void {
    const command = agentCommand(result.device.id, result.secret);
    const panel = h("section", { class: "card credentials", "aria-labelledby": "credentials-heading", tabindex: "-1" },
      h("h2", { id: "credentials-heading" }, `${heading}: ${result.device.name}`),
      h("p", { class: "warning", role: "note" }, h("strong", {}, "Copy the secret now. "), "It is shown only this once; if you lose it, rotate the secret to get a new one."),
      h("dl", {},
        h("dt", {}, "Device id"),
        h("dd", {}, h("code", { "data-testid": "device-id" }, result.device.id), " ", copyButton("Copy device id", () => result.device.id)),
        h("dt", {}, "Secret"),
        h("dd", {}, h("code", { "data-testid": "device-secret" }, result.secret), " ", copyButton("Copy secret", () => result.secret)),
      ),
      h("p", {}, "Start the agent on your Raspberry Pi with simulated sockets (replace ", h("code", {}, "--source simulated --sockets 4"), " by your real source when you have one):"),
      h("pre", { class: "command" }, h("code", { "data-testid": "agent-command" }, command)),
      h("p", {}, copyButton("Copy command", () => command)),
      h("button", { type: "button", class: "secondary", onclick: () => replace(credentials) }, "Done, I saved the secret"),
    );
    replace(credentials, panel);
    panel.focus();
  }

  async function reload(): Promise<void> {
    try {
      const [devices, readings] = await Promise.all([
        api.devices(signal),
        // Socket ids come from the readings; without read-service only named sockets show.
        api.sockets(signal).then((r) => r.sockets, () => []),
      ]);
      await loadNames(true);
      if (signal.aborted) return;
      clearError(error);
      const seen = new Map<string, Set<string>>();
      for (const r of readings) {
        if (!seen.has(r.device)) seen.set(r.device, new Set());
        seen.get(r.device)?.add(r.socket);
      }
      if (devices.length === 0) {
        replace(list, h("div", { class: "empty" }, h("p", {}, owner ? "No devices yet. Add one to get the command that starts its agent." : "No devices yet.")));
        return;
      }
      replace(list, devices.map((device) => deviceCard(device, seen.get(device.id) ?? new Set())));
    } catch (e) {
      showError(error, e);
      if (list.querySelector(".loading")) replace(list);
    }
  }

  function deviceCard(device: Device, reporting: Set<string>): HTMLElement {
    const headingId = `device-${device.id}`;
    const cardError = errorBox();
    const heading = h("h2", { id: headingId }, device.name);
    const actions = h("div", { class: "actions" });
    const renameSlot = h("div", {});
    const card = h("article", { class: "card device", "aria-labelledby": headingId, "data-testid": "device-card", "data-device-id": device.id },
      heading,
      h("p", { class: "hint" }, "Id ", h("code", {}, device.id), ` · added ${format.date(device.created_at * 1000)}`),
      owner ? actions : null,
      renameSlot,
      cardError,
      socketList(device, reporting),
    );
    if (!owner) return card;

    const renameButton = h("button", { type: "button", class: "secondary small" }, "Rename");
    renameButton.addEventListener("click", () => {
      const input = h("input", { type: "text", required: true, maxlength: "64", value: device.name });
      const save = h("button", { type: "submit", class: "small" }, "Save name");
      const form = h("form", { class: "inline-form" },
        field("New name", input),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary small", onclick: () => { replace(renameSlot); renameButton.focus(); } }, "Cancel"),
          save,
        ),
      );
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearError(cardError);
        try {
          const renamed = await whileBusy(save, "Saving…", () => api.renameDevice(device.id, input.value.trim()));
          device.name = renamed.name;
          heading.textContent = renamed.name;
          replace(renameSlot);
          renameButton.focus();
          void loadNames(true);
        } catch (e) {
          showError(cardError, e);
        }
      });
      replace(renameSlot, form);
      input.select();
    });

    const rotateButton = h("button", { type: "button", class: "secondary small" }, "Rotate secret");
    rotateButton.addEventListener("click", async () => {
      clearError(cardError);
      try {
        const rotated = await whileBusy(rotateButton, "Rotating…", () => api.rotateSecret(device.id));
        showCredentials(rotated, "New secret");
      } catch (e) {
        showError(cardError, e);
      }
    });

    const deleteButton = h("button", { type: "button", class: "danger small" }, "Delete");
    deleteButton.addEventListener("click", async () => {
      clearError(cardError);
      const sure = await confirmAction(
        `Delete ${device.name}?`,
        "Its agent can no longer send readings. Readings already stored stay.",
      );
      if (!sure) return;
      try {
        await whileBusy(deleteButton, "Deleting…", () => api.deleteDevice(device.id));
        await reload();
      } catch (e) {
        showError(cardError, e);
      }
    });
    replace(actions, renameButton, rotateButton, deleteButton);
    return card;
  }

  function socketList(device: Device, reporting: Set<string>): HTMLElement {
    const named = new Map(device.sockets.map((s) => [s.socket_id, s.name]));
    const ids = [...new Set([...reporting, ...named.keys()])].sort((a, b) => a.localeCompare(b));
    if (ids.length === 0) return h("p", { class: "hint" }, "No sockets have reported yet.");
    return h("div", {},
      h("h3", {}, "Sockets"),
      h("ul", { class: "socket-names" }, ids.map((id) => socketRow(device, id, named.get(id)))),
    );
  }

  function socketRow(device: Device, socketId: string, name: string | undefined): HTMLElement {
    if (!owner) return h("li", {}, h("strong", {}, name ?? socketId), name ? h("span", { class: "hint" }, ` (${socketId})`) : null);
    const input = h("input", { type: "text", required: true, maxlength: "64", value: name ?? "", placeholder: socketId });
    const save = h("button", { type: "submit", class: "small secondary" }, "Save");
    save.setAttribute("aria-label", `Save socket name for ${socketId}`);
    const status = h("span", { class: "hint", role: "status" });
    const rowError = errorBox();
    const form = h("form", { class: "socket-name" }, field(`Name of socket ${socketId}`, input), save, status, rowError);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearError(rowError);
      status.textContent = "";
      try {
        await whileBusy(save, "Saving…", () => api.nameSocket(device.id, socketId, input.value.trim()));
        status.textContent = "Saved.";
        void loadNames(true);
      } catch (e) {
        showError(rowError, e);
      }
    });
    return h("li", {}, form);
  }

  await reload();
}
