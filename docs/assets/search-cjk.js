// Lets the book's search find Chinese words, such as 粘包 or 半连接池.
//
// mdBook's search index holds the English words of each section, but none in Chinese (nor
// Japanese or Korean): mdBook leaves them out when it builds the index, and the search box
// trims them from a query too (elasticlunr's /\W/ means "not an ASCII letter"). Each section's
// text is in the index all the same, whole, for the teasers under the results. So a query word
// written in those scripts is looked for in that text, as it is written, and each section that
// holds it is scored by how often, with the same weights (title twice the body) as the rest;
// the English words of the query are searched as before, and the scores add up.
(() => {
    const cjk = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
    const search = elasticlunr.Index.prototype.search;

    elasticlunr.Index.prototype.search = function (query, options) {
        const results = search.call(this, query, options);
        const words = typeof query === 'string' ? query.split(/\s+/).filter((word) => cjk.test(word)) : [];
        if (words.length === 0) {
            return results;
        }
        const byRef = new Map(results.map((result) => [result.ref, result]));
        const fields = options?.fields ?? Object.fromEntries(this.getFields().map((field) => [field, { boost: 1 }]));
        for (const [ref, doc] of Object.entries(this.documentStore.docs)) {
            let score = 0;
            for (const [field, { boost }] of Object.entries(fields)) {
                const text = String(doc[field] ?? '');
                for (const word of words) {
                    score += boost * (text.split(word).length - 1);
                }
            }
            if (score === 0) {
                continue;
            }
            const result = byRef.get(ref) ?? { ref, score: 0, doc };
            result.score += score;
            byRef.set(ref, result);
        }
        return Array.from(byRef.values()).sort((a, b) => b.score - a.score);
    };
})();
