// Launch form: show the chosen tool's parameters only, disable the data file fields for tools
// that take none, focus the field an error is about, and show that the launch is on its way.
(() => {
  const form = document.getElementById('launch-form');
  if (!form) return;
  const data = document.getElementById('data-fieldset');
  const sync = () => {
    const chosen = form.querySelector('input[name="tool"]:checked');
    for (const block of form.querySelectorAll('.params')) {
      const active = chosen && block.dataset.tool === chosen.value;
      block.hidden = !active;
      for (const input of block.querySelectorAll('input')) input.disabled = !active;
    }
    if (data) data.disabled = chosen?.dataset.usesData !== 'true';
  };
  form.addEventListener('change', (event) => {
    if (event.target.name === 'tool') sync();
  });
  sync();
  const errorField = form.dataset.errorField;
  if (errorField) form.querySelector(`[name="${CSS.escape(errorField)}"]`)?.focus();
  form.addEventListener('submit', () => {
    const button = document.getElementById('launch-button');
    const note = document.getElementById('launch-note');
    const upload = document.getElementById('upload');
    button.disabled = true;
    button.textContent = 'Launching…';
    if (note && upload?.files?.length && !upload.disabled)
      note.textContent = `Uploading ${upload.files[0].name}…`;
  });
})();
