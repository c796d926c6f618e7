// A voice agent on @openai/agents-realtime (RealtimeAgent + RealtimeSession) pointed at
// openrealtime, over the WebSocket transport or over WebRTC.
//
//   OPENREALTIME_URL=ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime node agents.mjs websocket text|tool
//   OPENREALTIME_URL=http://127.0.0.1:PORT/v1/realtime/calls node agents.mjs webrtc text|tool
//
// WebRTC needs what a browser has: RTCPeerConnection comes from @roamhq/wrtc (libwebrtc for
// node), the microphone is a silent track of its RTCAudioSource, the speaker a stub element.
//
// Records: every server event with whether the SDK's own zod schema accepts it
// ({kind: "event", valid}), every client event put on the wire ({kind: "sent"}), the session's
// agent_end / agent_tool_start / agent_tool_end / error events, and the final history.
import {
  OpenAIRealtimeWebRTC, RealtimeAgent, RealtimeSession, tool,
} from '@openai/agents-realtime';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { record, run, waitFor } from './lib.mjs';

// The SDK drops a server event its schema refuses without a word (it only re-emits it as a
// generic event), so the schema is checked here. It is not exported: imported by path.
const { realtimeServerEventSchema } = await import(new URL(
  './node_modules/@openai/agents-realtime/dist/openaiRealtimeEvents.mjs', import.meta.url));

const getWeather = tool({
  name: 'get_weather',
  description: 'Weather in a city.',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});

function errorText(error) {
  if (error instanceof Error) return error.stack ?? error.message;
  return JSON.stringify(error);
}

// Wraps `proto.send` so that every event the SDK sends is recorded, whatever path it takes
// (requestResponse, for one, bypasses the transport's sendEvent).
function recordSends(proto) {
  const send = proto.send;
  proto.send = function (data, ...rest) {
    record('sent', { event: JSON.parse(data) });
    return send.call(this, data, ...rest);
  };
}

async function webrtcTransport(url) {
  const { default: wrtc } = await import('@roamhq/wrtc');
  globalThis.RTCPeerConnection = wrtc.RTCPeerConnection;
  recordSends(wrtc.RTCDataChannel.prototype);
  const microphone = new wrtc.nonstandard.RTCAudioSource().createTrack();
  return new OpenAIRealtimeWebRTC({
    baseUrl: url,
    mediaStream: new wrtc.MediaStream([microphone]),
    audioElement: { autoplay: false, srcObject: null },
  });
}

async function main() {
  const [kind, scenario] = process.argv.slice(2);
  const url = process.env.OPENREALTIME_URL;
  let transport = 'websocket';
  if (kind === 'webrtc') {
    transport = await webrtcTransport(url);
  } else {
    recordSends(WebSocket.prototype); // the SDK's socket in node is ws's
  }
  const agent = new RealtimeAgent({ name: 'Assistant', instructions: 'Be brief.', tools: [getWeather] });
  const session = new RealtimeSession(agent, {
    transport, model: 'gpt-realtime', config: { outputModalities: ['text'] } });

  session.transport.on('*', (event) => {
    const parsed = realtimeServerEventSchema.safeParse(event);
    record('event', { event, valid: parsed.success,
      ...(parsed.success ? {} : { issues: parsed.error.issues }) });
  });
  session.on('error', ({ error }) => record('session_error', { error: errorText(error) }));
  session.on('agent_end', (_ctx, _agent, output) => record('agent_end', { output }));
  session.on('agent_tool_start', (_ctx, _agent, t, { toolCall }) =>
    record('agent_tool_start', { tool: t.name, arguments: toolCall.arguments, callId: toolCall.callId }));
  session.on('agent_tool_end', (_ctx, _agent, t, result) =>
    record('agent_tool_end', { tool: t.name, result }));

  const agentEnd = (match) =>
    waitFor('agent_end', (cb) => session.on('agent_end', cb), (_c, _a, output) => match(output));

  await session.connect({ apiKey: 'sk-node-test', ...(kind === 'webrtc' ? {} : { url }) });
  record('step', { name: 'connected', ...(kind === 'webrtc' ? { callId: transport.callId } : {}) });

  if (scenario === 'text') {
    const end = agentEnd((output) => output !== '');
    session.sendMessage('say: hello from the agent');
    await end;
  } else if (scenario === 'tool') {
    // The first response only calls the tool (agent_end with no text); the SDK runs the tool,
    // sends its output and asks for the follow-up reply.
    const end = agentEnd((output) => output.startsWith('Tool said'));
    session.sendMessage('call: get_weather {"city":"Paris"}');
    await end;
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }

  record('history', { history: session.history });
  session.close();
}

run(main);
