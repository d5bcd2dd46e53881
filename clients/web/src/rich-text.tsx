import { linkify } from './format';

/**
 * A status's text with its http(s) links as links, built as React nodes (never
 * as HTML): the text cannot inject markup, and no inline script or style is
 * needed, as the app's CSP requires. Links open in a new tab, pass no
 * referrer, and tell search engines the author's links are not endorsed.
 */
export function RichText({ text }: { text: string }) {
  return (
    <>
      {linkify(text).map((segment, i) =>
        'href' in segment ? (
          <a key={i} href={segment.href} target="_blank" rel="noopener noreferrer nofollow" title={segment.href}>
            {segment.text}
          </a>
        ) : (
          segment.text
        ),
      )}
    </>
  );
}
