// Dashboard: refreshes the live part every few seconds, unless someone is using a control in it.
(() => {
  const live = document.getElementById('dashboard-live');
  if (!live) return;
  const refresh = async () => {
    const busy = live.contains(document.activeElement) && document.activeElement !== document.body;
    if (!busy && !document.hidden) {
      try {
        const response = await fetch('/dashboard?fragment=1', { cache: 'no-store' });
        if (response.ok) live.innerHTML = await response.text();
      } catch {
        // Try again next time.
      }
    }
    setTimeout(refresh, 3000);
  };
  setTimeout(refresh, 3000);
})();
