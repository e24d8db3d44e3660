// Draws each ```mermaid block of a chapter as a diagram, in the page, with the mermaid.min.js
// that is served beside this file (nothing is fetched from elsewhere).
//
// mdBook renders such a block as <pre><code class="language-mermaid">SOURCE</code></pre>;
// Mermaid draws the elements of class "mermaid", from their text. A light theme of the book
// gets Mermaid's default colours, a dark one (navy, coal, ayu) its dark theme: switching
// between the two reloads the page so the diagrams are drawn again.
// The longest line of a note or a message, in characters (see breakLongText, below).
const LINE = 40;

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

// A note or a message on one line as long as a sentence widens the whole diagram: too wide to
// read without scrolling sideways, or, shrunk to the page, too small to read. So the text of a
// long one is broken into lines (Mermaid's <br>) at its spaces, and a word too long for a line
// (the bytes "1;2;3;…") after a ';', ',' or ']', or else where the line is full. Nothing is
// added to the text: Mermaid's own wrapping (sequence.wrap) would cut words with hyphens that
// never crossed the wire, and it garbles the #59; that stands for a ';'.
function breakLongText(line) {
    const statement = line.match(/^(\s*(?:Note [^:]+|[\w-]+\s*-[-\w>)]*\s*[\w-]+)): (.*)$/);
    if (!statement) {
        return line;
    }
    const [, head, text] = statement;
    // A character, or one of Mermaid's codes (#59; is ';'), which must stay whole.
    const units = (word) => word.match(/#\w+;|./gsu) ?? [];
    if (units(text).length <= LINE) {
        return line;
    }
    const lines = [];
    let current = [];
    const endLine = () => {
        if (current.length > 0) {
            lines.push(current.join(''));
            current = [];
        }
    };
    for (const word of text.split(' ')) {
        const parts = units(word);
        if (current.length > 0 && current.length + 1 + parts.length > LINE) {
            endLine();
        }
        if (current.length > 0) {
            current.push(' ');
        }
        for (const unit of parts) {
            current.push(unit);
            const breakable = /^(#59;|[;,\]])$/.test(unit);
            if ((current.length >= LINE && breakable) || current.length >= LINE + 10) {
                endLine();
            }
        }
    }
    endLine();
    return `${head}: ${lines.join('<br>')}`;
}
