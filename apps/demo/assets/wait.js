// Please-wait page: polls the launch status, redraws the steps, and opens the tool once ready.
(() => {
  const root = document.getElementById('wait');
  const state = JSON.parse(document.getElementById('wait-state')?.textContent ?? '{}');
  if (!root || !state.name) return;
  const statusUrl = `/containers/${encodeURIComponent(state.name)}/status`;
  let done = false;
  const poll = async () => {
    if (done) return;
    try {
      const response = await fetch(statusUrl, { headers: { accept: 'application/json' }, cache: 'no-store' });
      if (response.status === 404) {
        root.innerHTML =
          '<section class="card"><h1>Gone</h1><p role="alert">This container no longer exists.</p><p><a href="/">Launch a tool</a></p></section>';
        done = true;
        return;
      }
      const status = await response.json();
      const open = root.querySelector('details')?.open;
      root.innerHTML = status.html;
      if (open) root.querySelector('details')?.setAttribute('open', '');
      root.dataset.phase = status.phase;
      if (status.title) document.title = status.title;
      if (status.phase === 'ready') {
        done = true;
        setTimeout(() => location.assign(status.url), 400);
        return;
      }
      if (status.phase === 'failed') {
        done = true;
        return;
      }
    } catch {
      // The demo restarts or the network hiccups: try again.
    }
    setTimeout(poll, 700);
  };
  if (root.dataset.phase === 'ready') location.assign(state.url);
  else if (root.dataset.phase !== 'failed') setTimeout(poll, 300);
})();
