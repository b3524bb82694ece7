// Drives the Twilio emulator with Twilio's own Node SDK (twilio-node) and receives every webhook the emulator
// sends, checking each with twilio-node's validateRequest. Prints one JSON report on stdout for the pytest
// module tests/emulator/test_twilio_node.py, which asserts on it. Every wait is bounded.
import http from "node:http";
import twilio from "twilio";

const { EMULATOR_URL, ACCOUNT_SID, AUTH_TOKEN } = process.env;
const FROM = "+15005550006";
const TO = "+15558675310";
const SLOW = "+15550100004"; // the emulator's slow answer: rings for a while
const client = twilio(ACCOUNT_SID, AUTH_TOKEN);
client.api.baseUrl = EMULATOR_URL; // twilio-node has no base-URL option; its Api domain takes one

const received = [];
const twiml = {
  "/twiml":
    '<Response><Say>Hello from Node.</Say><Record action="/recorded" recordingStatusCallback="/recording" ' +
    'transcribeCallback="/transcribed"/></Response>',
  "/recorded": "<Response><Hangup/></Response>",
};

const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    const url = `http://127.0.0.1:${server.address().port}${req.url}`;
    const params = req.method === "POST" ? Object.fromEntries(new URLSearchParams(body)) : {};
    const signature = req.headers["x-twilio-signature"];
    received.push({
      method: req.method,
      path: req.url,
      params,
      valid: twilio.validateRequest(AUTH_TOKEN, signature, url, params),
      validWithWrongToken: twilio.validateRequest("not-the-token", signature, url, params),
      token: req.headers["i-twilio-idempotency-token"] ?? null,
    });
    const answer = twiml[new URL(url).pathname] ?? "";
    res.writeHead(200, { "Content-Type": "text/xml" });
    res.end(answer);
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const here = `http://127.0.0.1:${server.address().port}`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(check, what, seconds = 20) {
  for (let waited = 0; waited < seconds * 20; waited++) {
    const value = await check();
    if (value) return value;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}
async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { status: error.status ?? null, code: error.code ?? null, moreInfo: error.moreInfo ?? null };
  }
}

const report = {};
try {
  // Calls: create, fetch, list with filters.
  const call = await client.calls.create({
    to: TO, from: FROM, url: `${here}/twiml?who=Zoë|Ann`, statusCallback: `${here}/status?kind=call`,
    statusCallbackEvent: ["initiated", "ringing", "answered", "completed"],
  });
  report.call = { sid: call.sid, status: call.status, direction: call.direction };
  report.callFetched = (await client.calls(call.sid).fetch()).to;
  await until(async () => (await client.calls(call.sid).fetch()).status === "completed", "the call to end");
  const done = await client.calls(call.sid).fetch();
  report.callDone = {
    status: done.status, duration: done.duration,
    startTime: done.startTime.toISOString(), endTime: done.endTime.toISOString(),
  };
  const hourAgo = new Date(done.startTime.getTime() - 3600 * 1000);
  report.filters = {
    toMatches: (await client.calls.list({ to: TO })).map((c) => c.sid),
    toOther: (await client.calls.list({ to: "+15550009999" })).length,
    startedAfter: (await client.calls.list({ startTimeAfter: hourAgo })).map((c) => c.sid),
    startedBefore2000: (await client.calls.list({ startTimeBefore: new Date("2000-01-01T00:00:00Z") })).length,
    parent: (await client.calls.list({ parentCallSid: call.sid })).length,
  };

  // Messages: create (segments), fetch, paging, date filters.
  const message = await client.messages.create({
    to: TO, from: FROM, body: "Привет ".repeat(12), statusCallback: `${here}/status?kind=sms`,
  });
  report.message = { sid: message.sid, numSegments: message.numSegments, status: message.status };
  report.messageFetched = (await client.messages(message.sid).fetch()).body;
  const more = [];
  for (const n of [1, 2, 3]) more.push((await client.messages.create({ to: TO, from: FROM, body: `m${n}` })).sid);
  report.paging = {
    all: (await client.messages.list({ pageSize: 2 })).map((m) => m.sid),
    created: [message.sid, ...more],
    firstPage: (await client.messages.page({ pageSize: 2 })).instances.length,
    nextPageUrl: (await client.messages.page({ pageSize: 2 })).nextPageUrl ?? null,
  };
  await until(async () => (await client.messages(message.sid).fetch()).status === "delivered", "delivery");
  report.sentFilter = {
    after: (await client.messages.list({ dateSentAfter: hourAgo })).map((m) => m.sid),
    before2000: (await client.messages.list({ dateSentBefore: new Date("2000-01-01T00:00:00Z") })).length,
  };

  // Errors, as twilio-node sees them.
  report.invalidTo = await failure(client.messages.create({ to: "+15005550001", from: FROM, body: "x" }));
  report.badPageSize = await failure(client.calls.page({ pageSize: 5000 }));
  report.unknownCall = await failure(client.calls("CA" + "0".repeat(32)).fetch());

  // A live update: new TwiML for a call in progress, then 21220 once it has ended; remove().
  const held = await client.calls.create({ to: TO, from: FROM, twiml: '<Response><Pause length="60"/></Response>' });
  await until(async () => (await client.calls(held.sid).fetch()).status === "in-progress", "the held call to answer");
  report.update = (await client.calls(held.sid).update({ twiml: "<Response><Say>Updated.</Say></Response>" })).status;
  await until(async () => (await client.calls(held.sid).fetch()).status === "completed", "the updated call to end");
  report.updatedDuration = Number((await client.calls(held.sid).fetch()).duration);
  report.updateFinished = await failure(client.calls(held.sid).update({ url: `${here}/twiml` }));
  const ringing = await client.calls.create({ to: SLOW, from: FROM, twiml: "<Response/>" });
  report.removeRinging = await failure(client.calls(ringing.sid).remove());
  report.removeFinished = await client.calls(held.sid).remove();
  report.fetchRemoved = await failure(client.calls(held.sid).fetch());
  report.removeMessage = await client.messages(message.sid).remove();

  // Every webhook of the first call and the message has arrived.
  await until(
    () => received.some((r) => r.params.CallStatus === "completed" && r.path.includes("kind=call")) &&
      received.some((r) => r.params.MessageStatus === "delivered") &&
      received.some((r) => r.path.startsWith("/transcribed")) &&
      received.some((r) => r.path.startsWith("/recording")),
    "the webhooks",
  );
} catch (error) {
  report.error = String(error && error.stack ? error.stack : error);
}
report.received = received;
server.close();
process.stdout.write(JSON.stringify(report));
