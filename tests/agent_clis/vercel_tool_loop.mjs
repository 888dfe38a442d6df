// The Vercel AI SDK's default OpenAI model (the Responses API) through a multi-step tool loop,
// then a second turn built from the first one's messages, as an application would.
// Run by tests/test_agent_clis.py: node vercel_tool_loop.mjs <base URL> <model>.
// Prints one JSON line: the answers and the bodies the SDK posted (to see its references).
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';

const [baseURL, model] = process.argv.slice(2);
const posted = [];
const openai = createOpenAI({
  baseURL,
  apiKey: 'client-key',
  fetch: async (url, init) => {
    if (init?.method === 'POST') posted.push(JSON.parse(init.body));
    return fetch(url, init);
  },
});
const weather = tool({
  description: 'The weather in a city',
  inputSchema: jsonSchema({
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  }),
  execute: async ({ city }) => `VERCEL-TOOL: 19C in ${city}`,
});
const prompt = { role: 'user', content: 'VERCEL-PROMPT weather?' };
const first = await generateText({
  model: openai(model),
  system: 'VERCEL-SYSTEM',
  tools: { weather },
  stopWhen: stepCountIs(3),
  messages: [prompt],
});
const second = streamText({
  model: openai(model),
  system: 'VERCEL-SYSTEM',
  messages: [prompt, ...first.response.messages, { role: 'user', content: 'VERCEL-NEXT' }],
});
const text = await second.text;
console.log(JSON.stringify({ first: first.text, steps: first.steps.length, second: text, posted }));
