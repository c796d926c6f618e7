// openrealtime console: a Realtime API client in plain JavaScript, no build step.
// It speaks to the server the way the official browser SDKs do (EVENTS.md §1.2, §6.5, §8):
// WebSocket with the `realtime` + `openai-insecure-api-key.<key>` subprotocols, PCM16 24 kHz
// base64 appends, scheduled playback of the reply's audio, and conversation.item.truncate with
// what was actually heard when the user talks over the reply. Or WebRTC: SDP offer posted to
// /v1/realtime/calls, events on the `oai-events` data channel, audio as media tracks.
"use strict";

(() => {
  const RATE = 24000;            // the Realtime API's PCM16 rate, both ways
  const APPEND_MS = 40;          // audio per input_audio_buffer.append
  const MAX_LOG = 1000;          // event log entries kept
  const $ = (id) => document.getElementById(id);

  // --- state ---------------------------------------------------------------------------------

  const state = {
    transport: null,      // {kind, send(event), close()}
    session: null,        // the session object from the last session.created/updated
    activeResponse: null, // id of the response being generated
    pttHeld: false,
    mic: null,
    player: null,
    ctx: null,
    updated: false,       // a session.updated has come on this connection
    generation: 0,        // bumped on every teardown: late callbacks of old connections no-op
  };

  // What tests (and the curious) can read from the page.
  const stats = {
    appends: 0, appendedBytes: 0, scheduledBytes: 0, truncations: [],
    get playedMs() { return state.player ? state.player.totalPlayedMs() : 0; },
  };
  const lastEvents = {}; // type -> the last such event from the server (audio abbreviated)
  window.__console = {
    stats,
    last: lastEvents,
    get session() { return state.session; },
    get connected() { return state.transport !== null; },
  };

  // --- small helpers -------------------------------------------------------------------------

  function bytesToBase64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function base64ToPcm(b64) {
    const raw = atob(b64);
    const view = new DataView(new ArrayBuffer(raw.length & ~1));
    for (let i = 0; i < view.byteLength; i++) view.setUint8(i, raw.charCodeAt(i));
    const out = new Float32Array(view.byteLength / 2);
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true) / 32768;
    return out;
  }

  function floatToPcm16(samples) {
    const view = new DataView(new ArrayBuffer(samples.length * 2));
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Uint8Array(view.buffer);
  }

  // Big strings (audio) are cut in the log, so it neither grows without bound nor hides events.
  function abbreviate(value) {
    if (typeof value === "string") {
      return value.length > 300 ? `${value.slice(0, 40)}… (${value.length} chars)` : value;
    }
    if (Array.isArray(value)) return value.map(abbreviate);
    if (value && typeof value === "object") {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = abbreviate(v);
      return out;
    }
    return value;
  }

  // --- event log -----------------------------------------------------------------------------

  const logEl = $("log");
  const filterEl = $("filter");

  // Streams of small events (audio appends, deltas) fold into one line with a count.
  const folds = (type) => type.endsWith(".delta") || type === "input_audio_buffer.append";

  function matchesFilter(type) {
    const terms = filterEl.value.trim().toLowerCase().split(/[\s,]+/).filter(Boolean);
    return terms.length === 0 || terms.some((t) => type.toLowerCase().includes(t));
  }

  function logEvent(dir, event) {
    const type = String(event.type);
    const nearBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
    const last = logEl.lastElementChild;
    if (last && folds(type) && last.dataset.type === type && last.dataset.dir === dir) {
      last.count += 1;
      last.latest = abbreviate(event);
      last.querySelector(".count").textContent = `×${last.count}`;
      if (last.open) last.querySelector("pre").textContent = JSON.stringify(last.latest, null, 2);
      return;
    }
    const entry = document.createElement("details");
    entry.className = "entry";
    entry.dataset.type = type;
    entry.dataset.dir = dir;
    entry.count = 1;
    entry.latest = abbreviate(event);
    const summary = document.createElement("summary");
    const time = new Date().toLocaleTimeString([], { hour12: false });
    summary.innerHTML = '<span class="dir"></span><span class="type"></span>' +
      '<span class="count"></span><time></time>';
    summary.querySelector(".dir").textContent = dir === "in" ? "↓" : "↑";
    summary.querySelector(".type").textContent = type;
    summary.querySelector("time").textContent = time;
    entry.append(summary, document.createElement("pre"));
    // JSON is rendered when an entry is opened: most never are.
    entry.addEventListener("toggle", () => {
      if (entry.open) entry.querySelector("pre").textContent = JSON.stringify(entry.latest, null, 2);
    });
    entry.classList.toggle("hidden", !matchesFilter(type));
    logEl.append(entry);
    while (logEl.childElementCount > MAX_LOG) logEl.firstElementChild.remove();
    if (nearBottom) logEl.scrollTop = logEl.scrollHeight;
  }

  filterEl.addEventListener("input", () => {
    for (const entry of logEl.children) {
      entry.classList.toggle("hidden", !matchesFilter(entry.dataset.type));
    }
  });
  $("clear-log").addEventListener("click", () => logEl.replaceChildren());

  // --- errors and status ---------------------------------------------------------------------

  function showError(message) {
    const line = document.createElement("div");
    line.textContent = message;
    $("errors").append(line);
    while ($("errors").childElementCount > 6) $("errors").firstElementChild.remove();
  }

  function setStatus(kind, text) {
    $("status").dataset.state = kind;
    $("status").textContent = text;
  }

  // --- transcript ----------------------------------------------------------------------------

  const turns = new Map(); // item id -> element

  function turn(itemId, role) {
    let el = turns.get(itemId);
    if (!el) {
      el = document.createElement("div");
      el.className = "turn pending";
      el.dataset.role = role;
      el.dataset.item = itemId;
      const text = document.createElement("span");
      text.className = "text";
      el.append(text);
      turns.set(itemId, el);
      $("transcript").append(el);
    }
    const box = $("transcript");
    box.scrollTop = box.scrollHeight;
    return el;
  }

  function appendText(el, delta) { el.querySelector(".text").textContent += delta; }

  function setText(el, text) {
    el.querySelector(".text").textContent = text;
    el.classList.remove("pending");
  }

  function transcribing() {
    const t = state.session?.audio?.input?.transcription;
    return Boolean(t && t.model);
  }

  // --- audio in: microphone -> 24 kHz PCM16 --------------------------------------------------

  // The capture runs in an AudioWorklet (off the main thread); its module is built from this
  // string so the console stays three files.
  const WORKLET = `
    class PcmCapture extends AudioWorkletProcessor {
      constructor() { super(); this.buf = new Float32Array(2048); this.n = 0; }
      process(inputs) {
        const ch = inputs[0] && inputs[0][0];
        if (ch) {
          for (let i = 0; i < ch.length; i++) {
            this.buf[this.n++] = ch[i];
            if (this.n === this.buf.length) {
              this.port.postMessage(this.buf, [this.buf.buffer]);
              this.buf = new Float32Array(2048); this.n = 0;
            }
          }
        }
        return true;
      }
    }
    registerProcessor("pcm-capture", PcmCapture);`;

  // Streaming resampler: a box average when going down (48 kHz -> 24 kHz averages pairs, which
  // also keeps aliasing out), linear interpolation when going up. State carries across blocks.
  class Resampler {
    constructor(from, to) { this.ratio = from / to; this.reset(); }
    reset() { this.rest = new Float32Array(0); this.pos = 0; }
    push(input) {
      const buf = new Float32Array(this.rest.length + input.length);
      buf.set(this.rest);
      buf.set(input, this.rest.length);
      const r = this.ratio;
      const out = [];
      let pos = this.pos;
      while (pos + r <= buf.length) {
        const i = Math.floor(pos);
        if (r >= 1) {
          const end = Math.floor(pos + r);
          let sum = 0;
          for (let j = i; j < end; j++) sum += buf[j];
          out.push(sum / Math.max(1, end - i));
        } else {
          const next = i + 1 < buf.length ? buf[i + 1] : buf[i];
          out.push(buf[i] + (next - buf[i]) * (pos - i));
        }
        pos += r;
      }
      const keep = Math.floor(pos);
      this.rest = buf.slice(keep);
      this.pos = pos - keep;
      return Float32Array.from(out);
    }
  }

  class Mic {
    static async open(ctx, onFrames) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new Error(window.isSecureContext
          ? "this browser gives no microphone access"
          : "the microphone needs a secure page: open the console on https:// (start the " +
            "server with --ssl-certfile/--ssl-keyfile) or on localhost");
      }
      const mic = new Mic();
      mic.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true,
                 autoGainControl: true } });
      mic.source = ctx.createMediaStreamSource(mic.stream);
      // Nodes are only pulled when they lead to the destination; a muted gain keeps the mic
      // out of the speakers.
      mic.sink = ctx.createGain();
      mic.sink.gain.value = 0;
      mic.sink.connect(ctx.destination);
      if (ctx.audioWorklet) {
        const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
        try { await ctx.audioWorklet.addModule(url); } finally { URL.revokeObjectURL(url); }
        mic.node = new AudioWorkletNode(ctx, "pcm-capture");
        mic.node.port.onmessage = (e) => onFrames(e.data);
      } else {
        mic.node = ctx.createScriptProcessor(2048, 1, 1);
        mic.node.onaudioprocess = (e) => onFrames(new Float32Array(e.inputBuffer.getChannelData(0)));
      }
      mic.source.connect(mic.node);
      mic.node.connect(mic.sink);
      mic.resampler = new Resampler(ctx.sampleRate, RATE);
      return mic;
    }

    close() {
      for (const track of this.stream.getTracks()) track.stop();
      this.source.disconnect();
      this.node.disconnect();
      this.sink.disconnect();
    }
  }

  let pending = [];   // resampled 24 kHz samples not yet sent
  let pendingLen = 0;

  function capturing() {
    const t = state.transport;
    return t !== null && t.kind === "websocket" && t.open && (handsFree() || state.pttHeld);
  }

  function onMicFrames(frames) {
    let peak = 0;
    for (let i = 0; i < frames.length; i++) peak = Math.max(peak, Math.abs(frames[i]));
    $("mic-level").firstElementChild.style.width = `${Math.min(100, peak * 140)}%`;
    if (!capturing()) return;
    const out = state.mic.resampler.push(frames);
    pending.push(out);
    pendingLen += out.length;
    if (pendingLen >= RATE * APPEND_MS / 1000) flushAudio();
  }

  function flushAudio() {
    if (pendingLen === 0) return;
    const all = new Float32Array(pendingLen);
    let at = 0;
    for (const part of pending) { all.set(part, at); at += part.length; }
    pending = [];
    pendingLen = 0;
    const bytes = floatToPcm16(all);
    stats.appends += 1;
    stats.appendedBytes += bytes.length;
    send({ type: "input_audio_buffer.append", audio: bytesToBase64(bytes) });
  }

  function resetCapture() {
    pending = [];
    pendingLen = 0;
    if (state.mic) state.mic.resampler.reset();
  }

  // --- audio out: scheduled playback of response.output_audio.delta -------------------------

  class Player {
    constructor(ctx) {
      this.ctx = ctx;
      this.end = 0;          // when the last scheduled chunk ends (context time)
      this.item = null;      // {id, contentIndex, receivedMs, chunks: [{src, start, dur}]}
      this.pastMs = 0;       // played audio of items no longer current
    }

    add(itemId, contentIndex, samples) {
      if (!this.item || this.item.id !== itemId) {
        this.retire();
        this.item = { id: itemId, contentIndex, receivedMs: 0, chunks: [] };
      }
      const buffer = this.ctx.createBuffer(1, samples.length, RATE);
      buffer.copyToChannel(samples, 0);
      const src = this.ctx.createBufferSource();
      src.buffer = buffer;
      src.connect(this.ctx.destination);
      // Chunks play back to back; a little lead keeps the first one from starting late.
      const start = Math.max(this.ctx.currentTime + 0.05, this.end);
      src.start(start);
      this.end = start + buffer.duration;
      this.item.chunks.push({ src, start, dur: buffer.duration });
      this.item.receivedMs += samples.length / (RATE / 1000);
    }

    playedMs(item = this.item) {
      if (!item) return 0;
      const now = this.ctx.currentTime;
      let s = 0;
      for (const c of item.chunks) s += Math.min(Math.max(now - c.start, 0), c.dur);
      return s * 1000;
    }

    totalPlayedMs() { return this.pastMs + this.playedMs(); }

    retire() {
      if (this.item) this.pastMs += this.playedMs();
      this.item = null;
    }

    // Stops playback now; returns what the user heard of the current item, or null when
    // nothing of it is still to play (then there is nothing to truncate).
    stop() {
      const item = this.item;
      if (!item) return null;
      const played = this.playedMs(item);
      for (const c of item.chunks) { try { c.src.stop(); } catch { /* never started */ } }
      // Freeze the chunks at what was heard, so the stats stay true after the stop.
      const now = this.ctx.currentTime;
      for (const c of item.chunks) c.dur = Math.min(Math.max(now - c.start, 0), c.dur);
      this.end = 0;
      this.retire();
      return played < item.receivedMs - 1 ? { item, played } : null;
    }
  }

  // The user spoke over the reply (or pressed stop): silence it and tell the server how much
  // was heard, so the model does not remember words the user never heard (EVENTS.md §6.5).
  function interruptPlayback() {
    if (!state.player) return;
    const cut = state.player.stop();
    if (!cut) return;
    const ms = Math.floor(Math.min(cut.played, cut.item.receivedMs));
    stats.truncations.push({ item_id: cut.item.id, audio_end_ms: ms });
    send({ type: "conversation.item.truncate", item_id: cut.item.id,
           content_index: cut.item.contentIndex, audio_end_ms: ms });
  }

  function cancelResponse() {
    if (state.activeResponse) send({ type: "response.cancel" });
  }

  // --- server events -------------------------------------------------------------------------

  // The form's choice until the server has answered it: the session.update built from the
  // form is the first thing sent, so session.created's default is never in force for us.
  function handsFree() {
    if (state.updated) return Boolean(state.session.audio?.input?.turn_detection);
    return $("turn-detection").value !== "none";
  }

  function onServerEvent(event) {
    logEvent("in", event);
    if (!folds(String(event.type))) lastEvents[event.type] = abbreviate(event);
    switch (event.type) {
      case "session.created":
        state.session = event.session;
        updateMode();
        break;
      case "session.updated":
        state.session = event.session;
        state.updated = true;
        syncForm(event.session);
        updateMode();
        break;
      case "error": {
        const e = event.error || {};
        // Clients race cancels against the natural end of a response; that one is harmless.
        if (e.code !== "response_cancel_not_active") {
          showError(`${e.type || "error"}${e.code ? ` (${e.code})` : ""}: ${e.message}`);
        }
        break;
      }
      case "input_audio_buffer.speech_started": {
        interruptPlayback();
        // With interrupt_response on the server cancels the reply itself.
        const td = state.session?.audio?.input?.turn_detection;
        if (td && td.interrupt_response === false) cancelResponse();
        turn(event.item_id, "user");
        break;
      }
      case "input_audio_buffer.committed":
        turn(event.item_id, "user");
        break;
      case "conversation.item.added":
      case "conversation.item.done":
        showItem(event.item);
        break;
      case "conversation.item.input_audio_transcription.delta":
        appendText(turn(event.item_id, "user"), event.delta);
        break;
      case "conversation.item.input_audio_transcription.completed":
        setText(turn(event.item_id, "user"), event.transcript);
        break;
      case "conversation.item.input_audio_transcription.failed": {
        const el = turn(event.item_id, "user");
        el.classList.remove("pending");
        el.classList.add("failed");
        break;
      }
      case "conversation.item.truncated":
        turn(event.item_id, "assistant").classList.add("truncated");
        break;
      case "response.created":
        state.activeResponse = event.response.id;
        break;
      case "response.done":
        state.activeResponse = null;
        break;
      case "response.output_audio_transcript.delta":
      case "response.output_text.delta":
        appendText(turn(event.item_id, "assistant"), event.delta);
        break;
      case "response.output_audio_transcript.done":
        setText(turn(event.item_id, "assistant"), event.transcript);
        break;
      case "response.output_text.done":
        setText(turn(event.item_id, "assistant"), event.text);
        break;
      case "response.output_audio.delta":
        if (state.player) {
          const samples = base64ToPcm(event.delta);
          stats.scheduledBytes += samples.length * 2;
          state.player.add(event.item_id, event.content_index, samples);
        }
        break;
      default:
        break;
    }
  }

  function showItem(item) {
    if (!item || !item.id) return;
    if (item.type === "message") {
      const el = turn(item.id, item.role);
      for (const part of item.content || []) {
        if (part.type === "input_text" || part.type === "output_text" || part.type === "text") {
          if (part.text) setText(el, part.text);
        } else if (part.transcript) {
          setText(el, part.transcript);
        } else if (part.type === "input_audio" && item.status === "completed" && !transcribing()) {
          setText(el, "(speech; no transcription model is set)");
        }
      }
    } else if (item.type === "function_call" && item.status === "completed") {
      setText(turn(item.id, "tool"), `${item.name}(${item.arguments})`);
    } else if (item.type === "function_call_output") {
      setText(turn(item.id, "tool"), `→ ${item.output}`);
    }
  }

  // --- sending -------------------------------------------------------------------------------

  function send(event) {
    if (!state.transport || !state.transport.open) return false;
    state.transport.send(JSON.stringify(event));
    logEvent("out", event);
    return true;
  }

  // --- session settings ----------------------------------------------------------------------

  function sessionFromForm() {
    const td = $("turn-detection").value;
    const transcription = $("transcription").value.trim();
    const session = {
      type: "realtime",
      output_modalities: [$("modalities").value],
      audio: {
        input: {
          format: { type: "audio/pcm", rate: RATE },
          transcription: transcription ? { model: transcription } : null,
          turn_detection: td === "none" ? null : { type: td },
        },
        output: { format: { type: "audio/pcm", rate: RATE }, voice: $("voice").value },
      },
    };
    const instructions = $("instructions").value.trim();
    if (instructions) session.instructions = instructions;
    const toolsText = $("tools").value.trim();
    let tools = [];
    if (toolsText) {
      try { tools = JSON.parse(toolsText); } catch (err) {
        throw new Error(`Tools: not valid JSON (${err.message})`);
      }
      if (!Array.isArray(tools)) throw new Error("Tools: expected a JSON array of tools");
    }
    session.tools = tools;
    if (tools.length) session.tool_choice = "auto";
    return session;
  }

  function sendSettings() {
    let session;
    try { session = sessionFromForm(); } catch (err) {
      showError(err.message);
      return;
    }
    send({ type: "session.update", session });
  }

  function selectValue(select, value) {
    if (value === undefined || value === null) return;
    if (![...select.options].some((o) => o.value === value)) select.add(new Option(value));
    select.value = value;
  }

  // The form shows what the server holds, as it answered.
  function syncForm(session) {
    const input = session.audio?.input || {};
    selectValue($("turn-detection"), input.turn_detection ? input.turn_detection.type : "none");
    $("transcription").value = input.transcription?.model || "";
    const voice = session.audio?.output?.voice;
    selectValue($("voice"), typeof voice === "object" && voice ? voice.id : voice);
    selectValue($("modalities"), (session.output_modalities || ["audio"])[0]);
    if (typeof session.instructions === "string") $("instructions").value = session.instructions;
    $("tools").value = session.tools && session.tools.length
      ? JSON.stringify(session.tools, null, 2) : "";
  }

  function updateMode() {
    const connected = Boolean(state.transport && state.transport.open);
    const free = handsFree();
    $("ptt").disabled = !connected || free || !state.mic;
    $("interrupt").disabled = !connected;
    $("text").disabled = $("send").disabled = $("apply").disabled = !connected;
    let hint = "Connect to start.";
    if (connected) {
      if (!state.mic) hint = "No microphone: type a message.";
      else if (free) hint = "Hands-free: just talk; the server detects your turns.";
      else hint = "Push to talk: hold the button or the space bar while you speak.";
    }
    $("mode-hint").textContent = hint;
    // On WebRTC the track is the input: muted in push to talk until the button is held.
    if (connected && state.transport.kind === "webrtc" && !state.pttHeld) micTrackEnabled(free);
  }

  $("settings").addEventListener("submit", (e) => {
    e.preventDefault();
    sendSettings();
  });

  // --- talking -------------------------------------------------------------------------------

  function micTrackEnabled(on) {
    if (state.mic) for (const t of state.mic.stream.getAudioTracks()) t.enabled = on;
  }

  function stopReply() {
    if (!state.transport) return;
    cancelResponse();
    if (state.transport.kind === "webrtc") {
      // The server owns playback on WebRTC: it cuts the audio and truncates (EVENTS.md §6.5).
      send({ type: "output_audio_buffer.clear" });
    } else {
      interruptPlayback();
    }
  }

  function pttDown() {
    if (state.pttHeld || $("ptt").disabled) return;
    state.pttHeld = true;
    $("ptt").classList.add("held");
    stopReply();
    resetCapture();
    // The turn is exactly what is said while the button is held.
    if (state.transport.kind === "webrtc") micTrackEnabled(true);
    else send({ type: "input_audio_buffer.clear" });
  }

  function pttUp() {
    if (!state.pttHeld) return;
    state.pttHeld = false;
    $("ptt").classList.remove("held");
    if (state.transport.kind === "webrtc") micTrackEnabled(false);
    else flushAudio();
    send({ type: "input_audio_buffer.commit" });
    send({ type: "response.create" });
  }

  const ptt = $("ptt");
  ptt.addEventListener("pointerdown", (e) => { ptt.setPointerCapture(e.pointerId); pttDown(); });
  ptt.addEventListener("pointerup", pttUp);
  ptt.addEventListener("pointercancel", pttUp);
  const typing = (el) => el && (el.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  document.addEventListener("keydown", (e) => {
    if (e.code !== "Space" || typing(e.target) || ptt.disabled) return;
    e.preventDefault(); // a focused button would otherwise be clicked
    if (!e.repeat) pttDown();
  });
  document.addEventListener("keyup", (e) => {
    if (e.code !== "Space" || typing(e.target) || !state.pttHeld) return;
    e.preventDefault();
    pttUp();
  });

  $("interrupt").addEventListener("click", stopReply);

  $("message").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    send({ type: "conversation.item.create", item: {
      type: "message", role: "user", content: [{ type: "input_text", text }] } });
    send({ type: "response.create" });
    $("text").value = "";
  });

  // --- transports ----------------------------------------------------------------------------

  function defaultUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/v1/realtime?model=gpt-realtime`;
  }

  function httpUrl(wsUrl) {
    const url = new URL(wsUrl);
    url.protocol = url.protocol === "wss:" ? "https:" : "http:";
    return url;
  }

  // A refused WebSocket handshake tells the page nothing; ask the same URL over HTTP why.
  async function whyRefused(wsUrl, key) {
    try {
      const headers = key ? { Authorization: `Bearer ${key}` } : {};
      const resp = await fetch(httpUrl(wsUrl), { headers });
      const body = await resp.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch { /* not ours to explain */ }
    return "";
  }

  function openWebSocket(url, key, handlers) {
    const protocols = ["realtime"];
    if (key) protocols.push(`openai-insecure-api-key.${key}`);
    const ws = new WebSocket(url, protocols);
    const transport = {
      kind: "websocket", open: false,
      send: (text) => ws.send(text),
      close: () => ws.close(1000),
    };
    ws.onopen = () => { transport.open = true; handlers.open(transport); };
    ws.onmessage = (e) => {
      let event;
      try { event = JSON.parse(e.data); } catch {
        showError("the server sent a frame that is not JSON");
        return;
      }
      handlers.event(event);
    };
    ws.onclose = async (e) => {
      const wasOpen = transport.open;
      transport.open = false;
      let why = "";
      if (!wasOpen) {
        const reason = await whyRefused(url, key);
        why = `could not connect to ${url}${reason ? `: ${reason}` : ""}`;
      } else if (e.code !== 1000) {
        why = `connection closed (code ${e.code}${e.reason ? `: ${e.reason}` : ""})`;
      }
      handlers.closed(why);
    };
    return transport;
  }

  function iceGathered(pc, ms) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ms); // send what we have; the server also learns from our checks
    });
  }

  async function openWebRTC(url, key, handlers) {
    const pc = new RTCPeerConnection();
    const remote = $("remote-audio");
    pc.ontrack = (e) => { remote.srcObject = e.streams[0] || new MediaStream([e.track]); };
    if (state.mic) {
      for (const track of state.mic.stream.getAudioTracks()) pc.addTrack(track, state.mic.stream);
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    const channel = pc.createDataChannel("oai-events");
    const transport = {
      kind: "webrtc", open: false,
      send: (text) => channel.send(text),
      close: () => { channel.close(); pc.close(); handlers.closed(""); },
    };
    channel.onopen = () => { transport.open = true; handlers.open(transport); };
    channel.onmessage = (e) => handlers.event(JSON.parse(e.data));
    channel.onclose = () => {
      if (transport.open) { transport.open = false; handlers.closed("the data channel closed"); }
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") {
        transport.open = false;
        handlers.closed("the WebRTC connection failed (check --webrtc-public-ip and the UDP ports)");
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc, 2000);
    const calls = httpUrl(url);
    calls.pathname = calls.pathname.replace(/\/?$/, "/calls");
    const headers = { "Content-Type": "application/sdp" };
    if (key) headers.Authorization = `Bearer ${key}`;
    let resp;
    try {
      resp = await fetch(calls, { method: "POST", body: pc.localDescription.sdp, headers });
    } catch (err) {
      pc.close();
      throw new Error(`could not reach ${calls}: ${err.message}`);
    }
    if (!resp.ok) {
      let message = `${resp.status} ${resp.statusText}`;
      try { message = (await resp.json()).error.message || message; } catch { /* plain text */ }
      pc.close();
      throw new Error(`${calls} refused the call: ${message}`);
    }
    await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
    return transport;
  }

  async function connect() {
    $("errors").replaceChildren();
    const url = $("url").value.trim();
    const key = $("api-key").value.trim();
    const kind = $("transport").value;
    setStatus("connecting", "connecting…");
    $("connect").textContent = "Disconnect";
    // Made inside the click: browsers only let a page start audio after a user gesture.
    state.ctx = state.ctx || new AudioContext();
    await state.ctx.resume();
    state.player = new Player(state.ctx);
    state.session = null;
    state.updated = false;
    const generation = ++state.generation;
    const current = () => generation === state.generation;
    const handlers = {
      open: (transport) => {
        if (!current()) return;
        state.transport = transport;
        setStatus("connected", `connected (${kind === "webrtc" ? "WebRTC" : "WebSocket"})`);
        sendSettings();
        updateMode();
      },
      event: (event) => { if (current()) onServerEvent(event); },
      closed: (why) => {
        if (!current()) return;
        if (why) showError(why);
        teardown(why ? "error" : "idle", why ? "disconnected (error)" : "disconnected");
      },
    };
    try {
      if (kind === "webrtc") {
        await startMic();
        const transport = await openWebRTC(url, key, handlers);
        if (!current()) { transport.close(); return; }
        state.transport = transport;
      } else {
        state.transport = openWebSocket(url, key, handlers);
        await startMic();
      }
    } catch (err) {
      if (!current()) return;
      showError(err.message);
      teardown("error", "disconnected (error)");
    }
    updateMode();
  }

  async function startMic() {
    try {
      state.mic = await Mic.open(state.ctx, onMicFrames);
    } catch (err) {
      state.mic = null;
      showError(`microphone: ${err.message}`);
    }
    if (state.mic && $("transport").value === "webrtc") micTrackEnabled(handsFree());
  }

  function teardown(kind, text) {
    state.generation += 1;
    const transport = state.transport;
    state.transport = null;
    if (transport) { transport.open = false; transport.close(); }
    if (state.mic) { state.mic.close(); state.mic = null; }
    if (state.player) state.player.stop();
    state.pttHeld = false;
    state.activeResponse = null;
    resetCapture();
    $("ptt").classList.remove("held");
    $("connect").textContent = "Connect";
    setStatus(kind, text);
    updateMode();
  }

  $("connection").addEventListener("submit", (e) => {
    e.preventDefault();
    if (state.transport) teardown("idle", "disconnected");
    else connect();
  });

  $("url").value = defaultUrl();
  updateMode();
})();
