// Draws each ```mermaid block of a chapter as a diagram, in the page, with the mermaid.min.js
// that is served beside this file (nothing is fetched from elsewhere).
//
// mdBook renders such a block as <pre><code class="language-mermaid">SOURCE</code></pre>;
// Mermaid draws the elements of class "mermaid", from their text. A light theme of the book
// gets Mermaid's default colours, a dark one (navy, coal, ayu) its dark theme: switching
// between the two reloads the page so the diagrams are drawn again.
(() => {
    const darkThemes = ['navy', 'coal', 'ayu'];
    const isDark = () => darkThemes.some((theme) => document.documentElement.classList.contains(theme));

    const blocks = Array.from(document.querySelectorAll('pre > code.language-mermaid'));
    const diagrams = blocks.map((code) => {
        const diagram = document.createElement('pre');
        diagram.className = 'mermaid';
        diagram.style.overflowX = 'auto'; // a diagram wider than the text scrolls sideways
        diagram.textContent = code.textContent.split('\n').map(breakLongText).join('\n');
        code.parentElement.replaceWith(diagram);
        return diagram;
    });
    if (diagrams.length === 0) {
        return;
    }
    const dark = isDark();
    mermaid.initialize({
        startOnLoad: false,
        securityLevel: 'strict',
        theme: dark ? 'dark' : 'default',
        // Drawn at its own size, the page scrolling sideways when it is wider than the text:
        // shrunk to the text's width, most of these diagrams would be too small to read.
        sequence: { useMaxWidth: false },
    });
    mermaid.run({ nodes: diagrams });

    new MutationObserver(() => {
        if (isDark() !== dark) {
            window.location.reload();
        }
    }).observe(document.documentElement, { attributes: true, attributeFilter: ['class'] });
})();

// A note or a message on one line as long as a sentence widens the whole diagram, which the
// page then shrinks until nothing is legible. So the text of a long one is broken into lines
// (Mermaid's <br>) at its spaces. Mermaid's own wrapping (sequence.wrap) would also cut a long
// word, such as the bytes "1;2;3;…", with hyphens that never crossed the wire, and it garbles
// the #59; that stands for a ';'.
function breakLongText(line) {
    const statement = line.match(/^(\s*(?:Note [^:]+|[\w-]+\s*-[-\w>)]*\s*[\w-]+)): (.*)$/);
    const [, head, text] = statement ?? [];
    if (!statement || text.length <= 40) {
        return line;
    }
    const lines = [''];
    for (const word of text.split(' ')) {
        const last = lines.length - 1;
        if (lines[last] !== '' && lines[last].length + 1 + word.length > 40) {
            lines.push(word);
        } else {
            lines[last] = lines[last] === '' ? word : `${lines[last]} ${word}`;
        }
    }
    return `${head}: ${lines.join('<br>')}`;
}
