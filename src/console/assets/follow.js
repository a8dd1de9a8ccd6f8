// odooops console: follows a log over server-sent events. A file, not inline: the CSP allows no inline script.
// An element with data-follow="<url>" gets the lines in its <pre>; its [data-follow-state] says how it goes
// (and data-state on the element, for tests and styles). The server ends every stream with an "end" event,
// so the browser does not reconnect to a finished log; a refusal comes as a "problem" event in the API's words.
(() => {
  const MAX_CHARS = 200000;
  for (const box of document.querySelectorAll("[data-follow]")) {
    const pre = box.querySelector("pre");
    const state = box.querySelector("[data-follow-state]");
    const say = (s, text) => {
      box.dataset.state = s;
      if (state) state.textContent = text;
    };
    const add = (text) => {
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = `${pre.textContent}${text}\n`.slice(-MAX_CHARS);
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    };
    const es = new EventSource(box.dataset.follow);
    es.onopen = () => say("live", "Following live.");
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) say("retrying", "Connection lost; reconnecting…");
    };
    es.addEventListener("reset", (e) => {
      pre.textContent = e.data ? `${e.data}\n` : "";
      pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener("lines", (e) => add(e.data));
    es.addEventListener("log", (e) => add(JSON.parse(e.data).line));
    es.addEventListener("problem", (e) => {
      es.close();
      say("problem", e.data);
    });
    es.addEventListener("end", () => {
      es.close();
      say("ended", "Ended.");
    });
  }
})();
