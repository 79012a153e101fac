/** The sign-in form of login mode: a username is all it takes (this is a demo, not an identity provider). */
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';
import type { Notice } from '../layout.ts';
import { layout } from '../layout.ts';

/** The sign-in page; `next` is where to go afterwards. */
export function loginPage(options: {
  next: string;
  username?: string;
  notices?: readonly Notice[];
}): SafeHtml {
  return layout({
    title: 'Sign in',
    active: 'login',
    notices: options.notices,
    body: html`<section class="card login">
  <h1>Sign in</h1>
  <p class="hint">Pick any username: each person sees and reaches only their own containers.</p>
  <form method="post" action="/login">
    <input type="hidden" name="next" value="${options.next}">
    <div class="field">
      <label for="username">Username</label>
      <input id="username" name="username" type="text" required autofocus autocomplete="username"
        pattern="[a-z][a-z0-9\\-]{0,23}" maxlength="24" value="${options.username ?? ''}" aria-describedby="username-hint">
      <span class="hint" id="username-hint">Lowercase letters, digits and dashes; starts with a letter.</span>
    </div>
    <button type="submit">Sign in</button>
  </form>
</section>`,
  });
}
