import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The repository's Markdown: the READMEs and the generated API references. */
function markdownFiles(): string[] {
  const files = [join(ROOT, 'README.md')];
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(ROOT, group))) {
      const dir = join(ROOT, group, name);
      if (!statSync(dir).isDirectory()) continue;
      if (existsSync(join(dir, 'README.md'))) files.push(join(dir, 'README.md'));
      const docs = join(dir, 'docs');
      if (existsSync(docs)) {
        for (const file of readdirSync(docs)) if (file.endsWith('.md')) files.push(join(docs, file));
      }
    }
  }
  return files;
}

/** Anchors a Markdown file offers: explicit `<a id>`s and GitHub's heading slugs (with -1, -2 for repeats). */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  for (const match of text.matchAll(/<a id="([^"]+)"/g)) anchors.add(match[1] as string);
  const seen = new Map<string, number>();
  const prose = text.replace(/^```[\s\S]*?^```/gm, '');
  for (const match of prose.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const slug = (match[1] as string)
      .trim()
      .toLowerCase()
      .replace(/<[^>]+>/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Relative link targets of a Markdown file (outside code blocks and inline code). */
function relativeLinks(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  const links: string[] = [];
  for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1] as string;
    if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push(target);
  }
  return links;
}

describe('documentation links', () => {
  it('point at files and anchors that exist', () => {
    const broken: string[] = [];
    const anchorCache = new Map<string, Set<string>>();
    const anchorsIn = (path: string): Set<string> => {
      let anchors = anchorCache.get(path);
      if (anchors === undefined) {
        anchors = anchorsOf(readFileSync(path, 'utf8'));
        anchorCache.set(path, anchors);
      }
      return anchors;
    };
    for (const file of markdownFiles()) {
      const text = readFileSync(file, 'utf8');
      for (const link of relativeLinks(text)) {
        const [path = '', anchor] = link.split('#');
        const target = path === '' ? file : resolve(dirname(file), decodeURI(path));
        const where = `${relative(ROOT, file)} -> ${link}`;
        if (!existsSync(target)) {
          broken.push(`${where} (no such file)`);
          continue;
        }
        if (anchor !== undefined && target.endsWith('.md') && !anchorsIn(target).has(anchor)) {
          broken.push(`${where} (no such anchor)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
