// Zoom on click for the figures of a lesson page: the picture in a full-window overlay
// (fit to the window; click it for its actual size), Escape or a click outside closes it.
// Offline: nothing but this file.
(function () {
  var box = null;
  function close() {
    if (box) {
      box.remove();
      box = null;
    }
  }
  function open(img) {
    close();
    box = document.createElement("div");
    box.className = "lesson-lightbox";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Zoomed figure (Escape closes)");
    var big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    box.appendChild(big);
    var figure = img.closest("figure.lesson-figure");
    var caption = figure && figure.querySelector(":scope > figcaption");
    if (caption) {
      var text = document.createElement("p");
      text.textContent = caption.textContent;
      box.appendChild(text);
    }
    big.addEventListener("click", function (event) {
      event.stopPropagation();
      box.classList.toggle("actual-size");
    });
    box.addEventListener("click", close);
    document.body.appendChild(box);
  }
  document.addEventListener("click", function (event) {
    var img = event.target.closest && event.target.closest("article figure.lesson-figure img");
    if (img && !img.closest(".lesson-lightbox")) {
      event.preventDefault();
      open(img);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") close();
  });
})();
