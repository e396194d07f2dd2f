/**
 * Puppeteer (for mermaid's CLI in __tests__/graph.test.ts) never downloads a browser: the tests
 * use Debian's Chromium, /usr/bin/chromium (__tests__/helpers/mermaid-puppeteer.json).
 */
module.exports = { skipDownload: true };
