// A voice agent on @openai/agents-realtime (RealtimeAgent + RealtimeSession, WebSocket
// transport) pointed at openrealtime by `url`.
//
//   OPENREALTIME_URL=ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime node agents_ws.mjs text|tool
//
// Records: every server event with whether the SDK's own zod schema accepts it
// ({kind: "event", valid}), every client event the SDK sent ({kind: "sent"}), the session's
// agent_end / agent_tool_start / agent_tool_end / error events, and the final history.
import { RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
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

async function main() {
  const scenario = process.argv[2];
  const agent = new RealtimeAgent({ name: 'Assistant', instructions: 'Be brief.', tools: [getWeather] });
  const session = new RealtimeSession(agent, {
    transport: 'websocket', model: 'gpt-realtime', config: { outputModalities: ['text'] } });
  const transport = session.transport;

  transport.on('*', (event) => {
    const parsed = realtimeServerEventSchema.safeParse(event);
    record('event', { event, valid: parsed.success,
      ...(parsed.success ? {} : { issues: parsed.error.issues }) });
  });
  // What goes on the wire (requestResponse bypasses sendEvent): the SDK's socket is ws's.
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data, ...rest) {
    record('sent', { event: JSON.parse(data) });
    return send.call(this, data, ...rest);
  };
  session.on('error', ({ error }) => record('session_error', { error: errorText(error) }));
  session.on('agent_end', (_ctx, _agent, output) => record('agent_end', { output }));
  session.on('agent_tool_start', (_ctx, _agent, t, { toolCall }) =>
    record('agent_tool_start', { tool: t.name, arguments: toolCall.arguments, callId: toolCall.callId }));
  session.on('agent_tool_end', (_ctx, _agent, t, result) =>
    record('agent_tool_end', { tool: t.name, result }));

  const agentEnd = (match) =>
    waitFor('agent_end', (cb) => session.on('agent_end', cb), (_c, _a, output) => match(output));

  await session.connect({ apiKey: 'sk-node-test', url: process.env.OPENREALTIME_URL });
  record('step', { name: 'connected' });

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
