// The book as a reader sees it: `cargo lab book` serves it on 127.0.0.1, and headless Chromium
// opens every page SUMMARY.md lists (and the print page, which holds them all). On each page
// every Mermaid block has become a drawing (an SVG, not an error), nothing was logged as an
// error and every file the page asked for arrived. Every link on those pages leads to a page
// that exists and, when it names a heading, to a heading that is there. Search finds 粘包.
// Screenshots of the sticky chapter (its title, its diagram, Chinese in the diagram) and the
// glossary go to tests/browser/screenshots/, for a person to look at.
//
// Run: `just book-test`, which installs what it needs first, as CI does (.ci/run).
// CHROMIUM names the browser (default: Debian's /usr/bin/chromium).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../../', import.meta.url));
const screenshots = path.join(root, 'tests/browser/screenshots');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// How long the server may take to start (cargo may have to build the runner first), and a page
// to be drawn.
const SERVER_DEADLINE_MS = 180_000;
const PAGE_DEADLINE_MS = 30_000;
// No test waits longer than this, whatever it waits for.
const TEST_DEADLINE_MS = 120_000;

/** The pages SUMMARY.md lists, in its order: { file: 'udp-echo.html', diagrams: N } each. */
function chapters() {
    const summary = readFileSync(path.join(root, 'docs/src/SUMMARY.md'), 'utf8');
    const files = [...summary.matchAll(/\]\(([^)#]+\.md)\)/g)].map((match) => match[1]);
    assert.ok(files.length > 5, `SUMMARY.md lists only ${files.length} chapters: is the scan broken?`);
    return files.map((file) => ({
        file: file.replace(/\.md$/, '.html'),
        diagrams: mermaidBlocks(readFileSync(path.join(root, 'docs/src', file), 'utf8')),
    }));
}

function mermaidBlocks(markdown) {
    return (markdown.match(/^```mermaid\s*$/gm) ?? []).length;
}

let server;
let base;
let browser;
// Every page opened: its address (without #heading) -> the ids of its elements.
const idsByPage = new Map();
// Every link seen: { from, href }.
const links = [];

before(async () => {
    assert.ok(
        existsSync(browserPath),
        `no browser at ${browserPath}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`,
    );
    base = await startBook();
    browser = await chromium.launch({ executablePath: browserPath });
}, { timeout: SERVER_DEADLINE_MS + TEST_DEADLINE_MS });

after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
        process.kill(-server.pid, 'SIGTERM'); // the whole group: cargo, then mdbook in its place
    }
});

/** `cargo lab book --port 0`, up and answering: the address it printed. */
async function startBook() {
    server = spawn('cargo', ['lab', 'book', '--port', '0'], {
        cwd: root,
        detached: true, // its own process group, ended as one in after()
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const deadline = Date.now() + SERVER_DEADLINE_MS;
    const address = await new Promise((resolve, reject) => {
        const timer = setTimeout(
            () => reject(new Error(`cargo lab book printed no address in ${SERVER_DEADLINE_MS} ms:\n${output}`)),
            SERVER_DEADLINE_MS,
        );
        const read = (chunk) => {
            output += chunk;
            const found = output.match(/serving the book at (http:\/\/127\.0\.0\.1:\d+\/)/);
            if (found) {
                clearTimeout(timer);
                resolve(found[1]);
            }
        };
        server.stdout.on('data', read);
        server.stderr.on('data', read);
        server.on('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`cargo lab book exited (${code}) before serving:\n${output}`));
        });
    });
    // mdBook builds the book, then listens: until it does, a connection is refused.
    for (;;) {
        let response;
        try {
            response = await fetch(address, { signal: AbortSignal.timeout(PAGE_DEADLINE_MS) });
        } catch (error) {
            if (Date.now() > deadline || server.exitCode !== null) {
                throw new Error(`the book at ${address} did not answer (${error.cause?.code ?? error.message}):\n${output}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 100)); // refused: ask again shortly
            continue;
        }
        assert.equal(response.status, 200, `${address} answered ${response.status}`);
        return address;
    }
}

/**
 * Open `file` in a new page, with what went wrong on the way: console errors, uncaught
 * exceptions, and requests that failed or were answered with an error.
 */
async function open(file) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} (${request.failure()?.errorText})`));
    page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`${response.status()}: ${response.url()}`);
    });
    const response = await page.goto(new URL(file, base).href, { waitUntil: 'load' });
    assert.equal(response.status(), 200, `${file} answered ${response.status()}`);
    return { page, problems };
}

/** Wait until the page has drawn `count` diagrams, and check that each is a drawing. */
async function expectDiagrams(page, file, count) {
    await page.waitForFunction(
        (count) => document.querySelectorAll('pre.mermaid svg').length >= count,
        count,
        { timeout: PAGE_DEADLINE_MS },
    ).catch(async () => {
        const drawn = await page.locator('pre.mermaid svg').count();
        assert.fail(`${file}: ${drawn} of its ${count} Mermaid blocks were drawn within ${PAGE_DEADLINE_MS} ms`);
    });
    const left = await page.locator('code.language-mermaid').count();
    assert.equal(left, 0, `${file}: ${left} Mermaid blocks are still shown as code`);
    const kinds = await page.locator('pre.mermaid svg').evaluateAll((svgs) =>
        svgs.map((svg) => svg.getAttribute('aria-roledescription')),
    );
    assert.equal(kinds.length, count, `${file}: ${kinds.length} diagrams, ${count} Mermaid blocks`);
    for (const kind of kinds) {
        assert.notEqual(kind, 'error', `${file}: Mermaid could not read a diagram and drew its error`);
    }
    // Drawn, not merely created: a sequence diagram has its participants' boxes, with text.
    const empty = await page.locator('pre.mermaid svg').evaluateAll((svgs) =>
        svgs.filter((svg) => svg.getBBox().width < 50 || !svg.textContent.trim()).length,
    );
    assert.equal(empty, 0, `${file}: ${empty} diagrams are empty`);
}

/** Remember the page's element ids and its links, for the link check at the end. */
async function collect(page, file) {
    const { ids, hrefs } = await page.evaluate(() => ({
        ids: Array.from(document.querySelectorAll('[id]'), (element) => element.id),
        hrefs: Array.from(document.querySelectorAll('a[href]'), (a) => a.href),
    }));
    idsByPage.set(withoutHash(new URL(file, base).href), new Set(ids));
    for (const href of hrefs) links.push({ from: file, href });
}

function withoutHash(href) {
    const url = new URL(href);
    url.hash = '';
    return url.href;
}

const pages = chapters();
const allDiagrams = pages.reduce((sum, chapter) => sum + chapter.diagrams, 0);

for (const { file, diagrams } of [...pages, { file: 'print.html', diagrams: allDiagrams }]) {
    test(`${file}: ${diagrams} diagrams drawn, no errors`, { timeout: TEST_DEADLINE_MS }, async () => {
        const { page, problems } = await open(file);
        try {
            await expectDiagrams(page, file, diagrams);
            await collect(page, file);
            assert.deepEqual(problems, [], `${file}: went wrong while loading`);
        } finally {
            await page.close();
        }
    });
}

test('search finds 粘包, in the sticky chapter', { timeout: TEST_DEADLINE_MS }, async () => {
    const { page, problems } = await open('index.html');
    try {
        await page.click('#mdbook-search-toggle');
        // As typed: the search runs when a key comes up (an input method's too).
        await page.fill('#mdbook-searchbar', '粘包');
        await page.press('#mdbook-searchbar', 'End');
        // The header says how many results there are, once the search has run.
        const header = page.locator('#mdbook-searchresults-header');
        await page.waitForFunction(
            () => document.querySelector('#mdbook-searchresults-header').textContent !== '',
            null,
            { timeout: PAGE_DEADLINE_MS },
        );
        const targets = await page.locator('#mdbook-searchresults a').evaluateAll((anchors) =>
            anchors.map((a) => a.getAttribute('href')),
        );
        assert.ok(
            targets.some((href) => href.startsWith('sticky.html')),
            `searching 粘包: "${await header.textContent()}" ${targets.join(', ')}`,
        );
        assert.deepEqual(problems, [], 'went wrong while searching');
    } finally {
        await page.close();
    }
});

test('screenshots: the sticky chapter, its diagram, and the glossary', { timeout: TEST_DEADLINE_MS }, async () => {
    mkdirSync(screenshots, { recursive: true });
    const shot = (page, name) => page.screenshot({ path: path.join(screenshots, `${name}.png`) });
    for (const name of ['sticky', 'glossary']) {
        const { file, diagrams } = pages.find((chapter) => chapter.file === `${name}.html`);
        const { page } = await open(file);
        try {
            await expectDiagrams(page, file, diagrams);
            await shot(page, name); // the top: the title, with its 中文
            if (diagrams > 0) {
                const diagram = page.locator('pre.mermaid').first();
                await diagram.evaluate((element) => {
                    element.scrollIntoView({ block: 'start' });
                    window.scrollBy(0, -60); // from under the menu bar
                });
                await shot(page, `${name}-diagram`); // the start of the first diagram
                // Chinese in a diagram: the first note or message with a Han character.
                const chinese = page.locator('pre.mermaid svg text').filter({ hasText: /\p{Script=Han}/u });
                if ((await chinese.count()) > 0) {
                    await chinese.first().scrollIntoViewIfNeeded();
                    await shot(page, `${name}-diagram-chinese`);
                }
            }
        } finally {
            await page.close();
        }
    }
});

// Runs last (node's test runner keeps the file's order): the pages above have been opened.
test('every link leads to a page that exists, and to a heading that is on it', { timeout: TEST_DEADLINE_MS }, async () => {
    assert.ok(links.length > 100, `only ${links.length} links were seen: did the pages open?`);
    const broken = [];
    const status = new Map(); // page address -> HTTP status, for pages not opened above
    for (const { from, href } of links) {
        const url = new URL(href);
        if (url.origin !== new URL(base).origin) continue; // the wider web is not reached from here
        const target = withoutHash(href);
        let ids = idsByPage.get(target);
        if (!ids) {
            if (!status.has(target)) {
                const response = await fetch(target, { signal: AbortSignal.timeout(PAGE_DEADLINE_MS) });
                status.set(target, response.status);
            }
            if (status.get(target) !== 200) {
                broken.push(`${from}: ${href} answers ${status.get(target)}`);
                continue;
            }
        }
        const heading = decodeURIComponent(url.hash.slice(1));
        if (heading && ids && !ids.has(heading)) broken.push(`${from}: ${href}: no such heading`);
        if (heading && !ids && target.endsWith('.html')) broken.push(`${from}: ${href}: heading not checked (page not opened)`);
    }
    assert.deepEqual(broken, [], 'broken links');
});
