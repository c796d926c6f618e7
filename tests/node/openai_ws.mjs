// A client on the `openai` package's OpenAIRealtimeWS. It builds wss:// from baseURL whatever
// its scheme, so the server runs TLS and node trusts the test CA through NODE_EXTRA_CA_CERTS.
//
//   OPENREALTIME_BASE_URL=https://localhost:PORT/v1 node openai_ws.mjs text|tool|cancel|beta
//
// `beta` uses the package's legacy client instead (openai/beta/realtime/ws, still shipped in
// v6 and v7): it sends `OpenAI-Beta: realtime=v1` and speaks the beta event names.
//
// Records: every server event ({kind: "event"}), the step it belongs to ({kind: "step"}),
// and anything the SDK reports on 'error' ({kind: "sdk_error"}).
import OpenAI from 'openai';
import { OpenAIRealtimeWS as BetaRealtimeWS } from 'openai/beta/realtime/ws';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { record, run, waitFor } from './lib.mjs';

const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

function userText(text) {
  return {
    type: 'conversation.item.create',
    item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] },
  };
}

async function main() {
  const scenario = process.argv[2];
  const client = new OpenAI({ apiKey: 'sk-node-test', baseURL: process.env.OPENREALTIME_BASE_URL });
  const RealtimeWS = scenario === 'beta' ? BetaRealtimeWS : OpenAIRealtimeWS;
  const rt = new RealtimeWS({ model: 'gpt-realtime' }, client);
  rt.on('event', (event) => record('event', { event }));
  rt.on('error', (error) => record('sdk_error', { message: error.message, error: error.error }));
  record('url', { url: rt.url.toString() });

  const next = (type, match = () => true) =>
    waitFor(type, (cb) => rt.on('event', cb), (event) => event.type === type && match(event));
  const step = (name) => record('step', { name });
  // Sends, then waits for the event that answers it (subscribed first: no race).
  const exchange = async (events, type, match) => {
    const answer = next(type, match);
    for (const event of events) rt.send(event);
    return answer;
  };

  step('connect');
  await next('session.created');

  if (scenario === 'text') {
    step('session.update');
    await exchange([{ type: 'session.update', session: {
      type: 'realtime', instructions: 'Be brief.', output_modalities: ['text'] } }],
    'session.updated');
    step('turn');
    await exchange([userText('say: hello from node'), { type: 'response.create' }], 'response.done');
  } else if (scenario === 'tool') {
    step('session.update');
    await exchange([{ type: 'session.update', session: {
      type: 'realtime', output_modalities: ['text'], tools: [WEATHER_TOOL], tool_choice: 'auto' } }],
    'session.updated');
    step('call');
    const done = await exchange(
      [userText('call: get_weather {"city":"Paris"}'), { type: 'response.create' }],
      'response.done');
    const call = done.response.output.find((item) => item.type === 'function_call');
    step('output');
    await exchange([
      { type: 'conversation.item.create', item: {
        type: 'function_call_output', call_id: call.call_id, output: `sunny in ${JSON.parse(call.arguments).city}` } },
      { type: 'response.create' },
    ], 'response.done');
  } else if (scenario === 'cancel') {
    step('start');
    await exchange([userText('hang'), { type: 'response.create' }], 'response.output_text.delta');
    step('cancel');
    await exchange([{ type: 'response.cancel', event_id: 'evt_node_cancel' }], 'response.done');
    step('after');
    await exchange([userText('say: still here'), { type: 'response.create' }], 'response.done');
  } else if (scenario === 'beta') {
    step('session.update');
    await exchange([{ type: 'session.update', session: {
      instructions: 'Be brief.', modalities: ['text'] } }], 'session.updated');
    step('turn');
    await exchange([userText('say: hello from beta'), { type: 'response.create' }], 'response.done');
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }

  step('close');
  const closed = waitFor('close', (cb) => rt.socket.on('close', cb));
  rt.close();
  await closed;
}

run(main);
