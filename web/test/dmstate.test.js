// The DM states the page shows for the server's answers to a send (§12.2),
// including the reasons quota_exceeded, cluster_unavailable and
// unknown_recipient, with the exact reason strings the Go server sends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dmState } from "../src/dmstate.js";

test("delivered and queued are shown as they are", () => {
  assert.deepEqual(dmState({ status: "delivered" }), { status: "delivered", reason: "", text: "delivered" });
  assert.deepEqual(dmState({ status: "queued" }), { status: "queued", reason: "", text: "queued" });
});

test("rejected with each reason code", () => {
  const cases = [
    ["quota_exceeded: you have 5000 messages waiting", "quota_exceeded", "you have too many messages waiting"],
    ["cluster_unavailable: the other servers cannot be reached now, so bob cannot be reached; the message was not stored", "cluster_unavailable", "cannot be reached"],
    ["unknown_recipient: no active client certificate has that name", "unknown_recipient", "no active client certificate"],
    ["queue_full: bob has 2 messages waiting", "queue_full", "too many messages waiting"],
  ];
  for (const [reason, code, phrase] of cases) {
    const s = dmState({ status: "rejected", reason });
    assert.equal(s.status, "rejected");
    assert.equal(s.reason, code);
    assert.ok(s.text.startsWith(`rejected (${code}): `), s.text);
    assert.ok(s.text.includes(phrase), s.text);
  }
});

test("an unknown reason keeps the server's text; junk does not break it", () => {
  assert.equal(dmState({ status: "rejected", reason: "new_reason: some detail" }).text, "rejected (new_reason): some detail");
  assert.equal(dmState({ status: "rejected", reason: "<b>Not a code</b>" }).text, "rejected: <b>Not a code</b>");
  assert.equal(dmState({ status: "rejected" }).text, "rejected: no reason given");
  assert.equal(dmState({ status: 7 }).status, "unknown");
  assert.equal(dmState(null).status, "unknown");
});
