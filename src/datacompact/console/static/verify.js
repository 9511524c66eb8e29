// Verifies a transparency-log receipt in the browser: the log's Ed25519
// signature on the checkpoint (C2SP signed note) and the RFC 9162 inclusion
// proof from the entry to the checkpoint's root, with WebCrypto only.
// Served as a static file (no inline script); the page's texts come from
// data-msg-* attributes, so every word shown is in the page's language.

const form = document.getElementById("verify-form");

function bytesOfBase64(text) {
  const binary = atob(text.trim());
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function bytesOfHex(text) {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error("hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

function hexOf(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const utf8 = (text) => new TextEncoder().encode(text);

// <name>+<hex key ID>+<base64(0x01 || 32-byte Ed25519 key)>, its ID checked.
async function parseKey(vkey) {
  const parts = vkey.trim().split("+");
  if (parts.length < 3) throw new Error("key");
  const name = parts[0];
  const raw = bytesOfBase64(parts.slice(2).join("+"));
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("key");
  const id = (await sha256(utf8(name), utf8("\n"), raw)).slice(0, 4);
  if (hexOf(id) !== parts[1].toLowerCase()) throw new Error("key");
  return { name, id, publicKey: raw.slice(1) };
}

// The note's text (up to the last blank line) and its signature lines.
function parseNote(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("note");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split("\n").filter((l) => l.length > 0);
  const signatures = lines.map((line) => {
    if (!line.startsWith("\u2014 ")) throw new Error("note");
    const [name, encoded] = line.slice(2).split(" ");
    const blob = bytesOfBase64(encoded);
    return { name, id: blob.slice(0, 4), signature: blob.slice(4) };
  });
  return { text, signatures };
}

// RFC 9162 section 2.1.3.2, with BigInt sizes.
async function rootFromProof(index, size, leaf, proof) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) throw new Error("index");
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Error("proof");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("proof");
  return r;
}

function report(list, message, ok) {
  const item = document.createElement("li");
  item.className = ok ? "ok" : "fail";
  item.textContent = `${ok ? form.dataset.msgOk : form.dataset.msgFail}: ${message}`;
  list.append(item);
  return ok;
}

async function verify() {
  const list = document.getElementById("verify-steps");
  list.replaceChildren();
  const msg = form.dataset;
  let receipt;
  let key;
  try {
    receipt = JSON.parse(document.getElementById("receipt").value);
    if (typeof receipt.checkpoint !== "string" || typeof receipt.entry !== "string") throw new Error();
    report(list, msg.msgParse, true);
  } catch {
    report(list, msg.msgParse, false);
    return false;
  }
  try {
    key = await parseKey(document.getElementById("log-key").value);
    report(list, msg.msgKey, true);
  } catch {
    report(list, msg.msgKey, false);
    return false;
  }
  let body;
  try {
    const note = parseNote(receipt.checkpoint);
    const sig = note.signatures.find((s) => s.name === key.name && equal(s.id, key.id));
    const publicKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
    const ok = sig !== undefined && sig.signature.length === 64
      && await crypto.subtle.verify({ name: "Ed25519" }, publicKey, sig.signature, utf8(note.text));
    if (!report(list, msg.msgSignature, ok)) return false;
    body = note.text.split("\n");
  } catch (error) {
    if (error && error.name === "NotSupportedError") report(list, msg.msgNocrypto, false);
    else report(list, msg.msgSignature, false);
    return false;
  }
  const size = body[1];
  const root = bytesOfBase64(body[2]);
  if (!report(list, msg.msgSize, /^\d+$/.test(size) && BigInt(size) === BigInt(receipt.tree_size))) return false;
  const leaf = await sha256(Uint8Array.of(0), bytesOfBase64(receipt.entry));
  if (!report(list, msg.msgLeaf, hexOf(leaf) === String(receipt.leaf_hash).toLowerCase())) return false;
  let computed;
  try {
    computed = await rootFromProof(receipt.index, size, leaf, receipt.inclusion_proof.map(bytesOfHex));
  } catch {
    computed = new Uint8Array();
  }
  if (!report(list, msg.msgInclusion, equal(computed, root))) return false;
  const done = document.createElement("li");
  done.className = "ok verified";
  done.textContent = msg.msgAll;
  list.append(done);
  return true;
}

if (form !== null) {
  const button = document.getElementById("verify-button");
  button.hidden = false;
  button.addEventListener("click", () => { verify(); });
}
