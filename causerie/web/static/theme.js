// Applies the chosen theme before the first paint (a classic script in <head>, no flash).
// "system" (the default) follows prefers-color-scheme through the stylesheet.
(function () {
  let theme = "system";
  try {
    theme = localStorage.getItem("causerie:theme") || "system";
  } catch (error) {
    // storage disabled: keep the system theme
  }
  document.documentElement.dataset.theme = theme;
})();
