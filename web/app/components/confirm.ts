// A modal confirmation for destructive actions (delete a device, remove a
// member), on the native <dialog>: it traps focus, closes on Escape and
// returns focus to the button that opened it.

import { h } from "../dom";

/** Asks; resolves true when the user pressed the button labelled "Confirm". */
export function confirmAction(title: string, message: string): Promise<boolean> {
  return new Promise((resolve) => {
    const heading = h("h2", { id: "confirm-title" }, title);
    const cancel = h("button", { type: "button", class: "secondary", onclick: () => dialog.close("cancel") }, "Cancel");
    const confirm = h("button", { type: "button", class: "danger", onclick: () => dialog.close("confirm") }, "Confirm");
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title" },
      heading,
      h("p", {}, message),
      h("div", { class: "actions" }, cancel, confirm),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
