/**
 * Server-side HTML with escaping by default: every value interpolated into {@link html} is
 * escaped unless it is already {@link SafeHtml} (another template, or {@link raw}).
 */

/** HTML that is safe to insert as is. */
export class SafeHtml {
  /** The markup. */
  readonly value: string;
  /** Wraps markup the caller vouches for; prefer {@link html} and {@link raw}. */
  constructor(value: string) {
    this.value = value;
  }
  /** The markup. */
  toString(): string {
    return this.value;
  }
}

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/**
 * Template tag: `html\`<p>${name}</p>\`` escapes `name`. Arrays are joined; `undefined`,
 * `null` and `false` render as nothing, so `${cond && html\`...\`}` works.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let index = 0; index < values.length; index += 1) {
    out += render(values[index]) + (strings[index + 1] ?? '');
  }
  return new SafeHtml(out);
}

/** Marks trusted markup (e.g. an inline script the app itself wrote) as safe. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/** JSON for a `<script>` element: `<` escaped so that no `</script>` can end it early. */
export function scriptJson(value: unknown): SafeHtml {
  return new SafeHtml(JSON.stringify(value).replaceAll('<', '\\u003c'));
}
