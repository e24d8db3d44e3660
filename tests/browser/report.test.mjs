// The HTML reports as a student and a teacher open them: headless Chromium, from the file
// system (no server), as a downloaded page is opened.
//
// - `cargo lab check udp-group --format html` against the lab's own room fixture with its
//   eat-spaces bug: a page of its own (Mermaid inlined, gzip-compressed). Every diagram is
//   drawn (an SVG, not Mermaid's error), the failed scenario shows the observed run beside the
//   lab's own server's, 张三 shows in a diagram, nothing is logged as an error, and the page
//   is under 3 MB.
// - `cargo lab check udp-echo --html FILE` against a server whose replies are markup and
//   Mermaid syntax (tests/fixtures/markup_replies.py): they show as text in the diagrams, and
//   no element, script or dialog comes of them.
// - `cargo lab grade udp-echo` of four students, one named "张 三 (merge).py": index.html has
//   the table with the Chinese name, the pass rates and the points histogram (SVG bars); its
//   link opens that student's report, whose diagrams are drawn with the copy of Mermaid the
//   reports share. Every student's page draws every diagram, bug-new-socket.py's too, whose
//   replies come from addresses the checker has no name for (127.0.0.1:PORT in a diagram).
//
// Run: `(cd tests/browser && node --test)`, after `npm ci`, as CI does (.ci/run).
// CHROMIUM names the browser (default: Debian's /usr/bin/chromium).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../../', import.meta.url));
const screenshots = path.join(root, 'tests/browser/screenshots');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// How long a cargo lab command may take (cargo may have to build the runner first), and a page
// to be drawn.
const COMMAND_DEADLINE_MS = 300_000;
const PAGE_DEADLINE_MS = 30_000;
const TEST_DEADLINE_MS = 120_000;
// A page of its own carries Mermaid (5.5 MB raw, about 2 MB packed): "under a few MB".
const PAGE_MOST_BYTES = 3_000_000;

const work = mkdtempSync(path.join(tmpdir(), 'report-test-'));
const reportFile = path.join(work, 'udp-group.html');
const markupFile = path.join(work, 'markup.html');
const grades = path.join(work, 'grades');
let browser;

/** `cargo lab ARGS...` in the repository; resolves with its exit code and what it said. */
function cargoLab(args) {
    return new Promise((resolve, reject) => {
        const child = spawn('cargo', ['lab', ...args], {
            cwd: root,
            detached: true, // its own process group, killed as one past the deadline
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (chunk) => (output += chunk));
        child.stderr.on('data', (chunk) => (output += chunk));
        const timer = setTimeout(() => {
            process.kill(-child.pid, 'SIGKILL');
            reject(new Error(`cargo lab ${args.join(' ')} did not finish in ${COMMAND_DEADLINE_MS} ms:\n${output}`));
        }, COMMAND_DEADLINE_MS);
        child.on('exit', (code) => {
            clearTimeout(timer);
            resolve({ code, output });
        });
    });
}

before(async () => {
    assert.ok(
        existsSync(browserPath),
        `no browser at ${browserPath}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`,
    );
    const room = 'python3 labs/udp-group/tests/fixtures/room.py --port {port} --bug eat-spaces {args}';
    const checked = await cargoLab([
        'check', 'udp-group', '--server', room, '--format', 'html', '--output', reportFile,
        '--scenario', 'a_message_arrives_byte_for_byte_at_every_member',
        '--scenario', 'registering_gets_exactly_ok',
    ]);
    assert.equal(checked.code, 1, `check should fail (the eat-spaces bug):\n${checked.output}`);
    const markup = await cargoLab([
        'check', 'udp-echo', '--server', 'python3 tests/fixtures/markup_replies.py --port {port}',
        '--html', markupFile, '--scenario', 'two_clients_get_only_their_own_replies',
        '--scenario', 'datagrams_keep_their_boundaries',
    ]);
    assert.equal(markup.code, 1, `check should fail (the replies are not echoes):\n${markup.output}`);
    const graded = await cargoLab([
        'grade', 'udp-echo', '--submissions', 'tests/fixtures/grade/class',
        '--include', 'correct.py', '--include', '张*', '--include', 'bug-skip-empty.py',
        '--include', 'bug-new-socket.py',
        '--server', 'python3 {submission} --port {port} {args}', '--out', grades,
    ]);
    assert.equal(graded.code, 0, `grade failed:\n${graded.output}`);
    browser = await chromium.launch({ executablePath: browserPath });
}, { timeout: 2 * COMMAND_DEADLINE_MS + TEST_DEADLINE_MS });

after(async () => {
    await browser?.close();
    rmSync(work, { recursive: true, force: true });
});

/** Open the file at `file`, with what went wrong on the way (console errors, exceptions). */
async function open(file) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems = [];
    page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} (${request.failure()?.errorText})`));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { page, problems };
}

/** Wait until every Mermaid block of the page is drawn, and check that each is a drawing. */
async function expectDrawn(page, what) {
    const count = await page.locator('pre.mermaid').count();
    assert.ok(count > 0, `${what}: no diagrams at all`);
    await page.waitForFunction(
        (count) => document.querySelectorAll('pre.mermaid svg').length >= count,
        count,
        { timeout: PAGE_DEADLINE_MS },
    ).catch(async () => {
        const drawn = await page.locator('pre.mermaid svg').count();
        const said = await page.locator('p.missing').allTextContents();
        assert.fail(`${what}: ${drawn} of its ${count} diagrams were drawn within ${PAGE_DEADLINE_MS} ms ${said.join(' ')}`);
    });
    const kinds = await page.locator('pre.mermaid svg').evaluateAll((svgs) =>
        svgs.map((svg) => svg.getAttribute('aria-roledescription')),
    );
    assert.ok(kinds.every((kind) => kind === 'sequence'), `${what}: not every diagram is a sequence diagram: ${kinds}`);
    const empty = await page.locator('pre.mermaid svg').evaluateAll((svgs) =>
        svgs.filter((svg) => svg.getBBox().width < 50 || !svg.textContent.trim()).length,
    );
    assert.equal(empty, 0, `${what}: ${empty} diagrams are empty`);
    return count;
}

test('check --format html: every diagram drawn, observed beside expected, 张三 shown', { timeout: TEST_DEADLINE_MS }, async () => {
    const bytes = statSync(reportFile).size;
    assert.ok(bytes < PAGE_MOST_BYTES, `the page is ${bytes} bytes, more than ${PAGE_MOST_BYTES}`);
    const { page, problems } = await open(reportFile);
    try {
        await expectDrawn(page, 'the report');
        const failed = page.locator('section.scenario.fail');
        assert.ok((await failed.count()) >= 1, 'no failed scenario on the page');
        const sides = await failed.first().locator('.compare figure pre.mermaid svg').count();
        assert.equal(sides, 2, 'the failure shows its run and the lab\'s own server\'s side by side');
        const hint = await failed.first().locator('.hint').textContent();
        assert.match(hint, /hint:/);
        const chinese = page.locator('pre.mermaid svg text').filter({ hasText: /张三/ });
        assert.ok((await chinese.count()) > 0, 'no diagram shows 张三');
        mkdirSync(screenshots, { recursive: true });
        await failed.first().scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(screenshots, 'report-failure.png') });
        assert.deepEqual(problems, [], 'went wrong while loading');
    } finally {
        await page.close();
    }
});

test('grade: index.html shows the class, its pass rates and histogram, and links to each report', { timeout: TEST_DEADLINE_MS }, async () => {
    const { page, problems } = await open(path.join(grades, 'index.html'));
    try {
        const names = await page.locator('table.class tbody td:first-child a').allTextContents();
        assert.deepEqual(names, ['bug-new-socket.py', 'bug-skip-empty.py', 'correct.py', '张 三 (merge).py']);
        const rates = await page.locator('table.class tfoot td.rate').count();
        assert.ok(rates > 3, `only ${rates} pass rates`);
        const bars = await page.locator('svg.histogram rect.bar').count();
        assert.ok(bars >= 1, 'the histogram has no bars');
        mkdirSync(screenshots, { recursive: true });
        await page.screenshot({ path: path.join(screenshots, 'grade-index.png'), fullPage: true });
        await page.getByRole('link', { name: '张 三 (merge).py' }).click();
        await page.waitForLoadState('load');
        assert.match(decodeURIComponent(page.url()), /reports\/张 三 \(merge\)\.py\.html$/);
        assert.equal(await page.locator('h1').evaluate((h1) => h1.firstChild.textContent.trim()), '张 三 (merge).py');
        await expectDrawn(page, 'the student\'s report');
        assert.deepEqual(problems, [], 'went wrong while loading');
    } finally {
        await page.close();
    }
});

test('grade: every student\'s page draws every diagram', { timeout: TEST_DEADLINE_MS }, async () => {
    for (const name of ['bug-new-socket.py', 'bug-skip-empty.py', 'correct.py', '张 三 (merge).py']) {
        const { page, problems } = await open(path.join(grades, 'reports', `${name}.html`));
        try {
            await expectDrawn(page, name);
            assert.deepEqual(problems, [], `${name}: went wrong while loading`);
        } finally {
            await page.close();
        }
    }
});

test('check --html: a server\'s markup shows as text, and nothing runs', { timeout: TEST_DEADLINE_MS }, async () => {
    const { page, problems } = await open(markupFile);
    page.on('dialog', (dialog) => {
        problems.push(`a dialog opened: ${dialog.message()}`);
        dialog.dismiss();
    });
    try {
        await expectDrawn(page, 'the markup report');
        assert.equal(await page.locator('img').count(), 0, 'the server\'s <img> became an element');
        const texts = await page.locator('pre.mermaid svg text').allTextContents();
        assert.ok(texts.some((text) => text.includes('<img src=x onerror=alert(1)>')), `not shown as text: ${texts}`);
        assert.ok(texts.some((text) => text.includes('</pre><script>alert(2)</script>')), `not shown as text: ${texts}`);
        assert.ok(!texts.some((text) => text === 'forged'), 'the server\'s bytes forged a note');
        assert.deepEqual(problems, [], 'went wrong while loading');
    } finally {
        await page.close();
    }
});
