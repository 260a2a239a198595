// Typeset the math of a page with KaTeX (installed at set-up, served by the site itself).
document.addEventListener("DOMContentLoaded", function () {
  if (typeof renderMathInElement !== "function") return;
  renderMathInElement(document.querySelector("article") || document.body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
    ],
    ignoredClasses: ["jp-OutputArea-output", "highlight-ipynb"],
    throwOnError: false,
  });
});
