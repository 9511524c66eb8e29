// Progressive enhancement of the console's upload forms: the same multipart post,
// sent with XMLHttpRequest so that a progress bar can follow it. Without this
// script the form posts as it is and the browser shows its own progress.
// The answer replaces the page: the next page after a redirect, or the error page.
"use strict";

function showAnswer(xhr) {
  if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL) {
    window.location.assign(xhr.responseURL);
    return;
  }
  // An error page of this site: parsed inertly (no script runs), then shown in place.
  const answer = new DOMParser().parseFromString(xhr.responseText, "text/html");
  const main = answer.querySelector("main");
  const here = document.querySelector("main");
  if (main && here) {
    here.replaceWith(document.adoptNode(main));
    document.title = answer.title;
  }
}

function enhance(form) {
  const bar = form.querySelector(".upload-progress");
  const status = form.querySelector(".upload-status");
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", (progress) => {
      if (progress.lengthComputable && bar) {
        bar.hidden = false;
        bar.value = Math.round((progress.loaded / progress.total) * 100);
      }
      if (status) status.textContent = form.dataset.msgSending;
    });
    xhr.upload.addEventListener("load", () => {
      if (bar) bar.value = 100;
      if (status) status.textContent = form.dataset.msgWorking;
    });
    xhr.addEventListener("load", () => showAnswer(xhr));
    xhr.addEventListener("error", () => {
      if (status) status.textContent = form.dataset.msgFailed;
      if (button) button.disabled = false;
    });
    if (button) button.disabled = true;
    xhr.send(new FormData(form));
  });
}

document.querySelectorAll("form.upload").forEach(enhance);
