import { describe, expect, it } from 'vitest';
import { html, raw, scriptJson } from './html.ts';

describe('html', () => {
  it('escapes interpolated values', () => {
    expect(html`<p title="${'"x"'}">${'<script>alert(1)</script>'}</p>`.value).toBe(
      '<p title="&quot;x&quot;">&lt;script&gt;alert(1)&lt;/script&gt;</p>',
    );
  });

  it('inserts nested templates and raw markup as is, joins arrays, drops empty values', () => {
    const items = ['a&b', 'c'].map((item) => html`<li>${item}</li>`);
    expect(html`<ul>${items}</ul>${false}${undefined}${null}${raw('<hr>')}${0}`.value).toBe(
      '<ul><li>a&amp;b</li><li>c</li></ul><hr>0',
    );
  });

  it('keeps JSON in a script from closing the element', () => {
    expect(scriptJson({ text: '</script><b>' }).value).toBe('{"text":"\\u003c/script>\\u003cb>"}');
  });
});
