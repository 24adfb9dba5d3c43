// The API keys page: copy the new key (shown this once) to the clipboard.

import { copyText } from "./api.js";

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    field.select();
    try {
      await copyText(field.value, button);
    } catch {
      // no clipboard (an insecure page, or permission refused): the key stays selected
    }
  });
}
