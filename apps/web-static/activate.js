/*
 * The activation script (seed 001). The page loads it only at the sale's start, as activate.js?v=<random>, and it is
 * served with Cache-Control: no-store, so no browser or CDN holds it before then. It gets the buyer in — a purchase
 * token from GET /sales/:id/access, the proof of work when the sale asks for one, the waiting room when there is
 * one — and hands the access to the page, which switches the buy button on.
 */
(() => {
  'use strict';
  const page = window.flashSalePage;
  if (!page) return;
  const saleId = encodeURIComponent(page.saleId);

  /** Polls about twice before the estimated admission, at most every second and at least every 5 s, jittered. */
  const pollDelay = (estimatedWaitMs) => Math.min(5000, Math.max(1000, (estimatedWaitMs || 0) / 2)) * (0.75 + Math.random() * 0.5);

  const waitInLine = async (ticket) => {
    let place = ticket;
    for (;;) {
      page.showQueue(place.position, place.estimatedWaitMs);
      await page.sleep(pollDelay(place.estimatedWaitMs));
      const answer = await page.withRetries(() => page.call('GET', `/sales/${saleId}/queue/${encodeURIComponent(ticket.queueTicket)}`));
      if (!answer.ok || answer.data.purchaseToken) return answer;
      place = answer.data;
    }
  };

  /** The challenge's answer in ALTCHA's form: base64 of its JSON. */
  const solve = (challenge) =>
    new Promise((resolve) => {
      const worker = new Worker('/sale-page/pow-worker.js');
      const done = (number) => {
        worker.terminate();
        resolve(number === null ? undefined : btoa(JSON.stringify({ algorithm: challenge.algorithm, challenge: challenge.challenge, number, salt: challenge.salt, signature: challenge.signature })));
      };
      worker.onmessage = (event) => done(event.data.number);
      worker.onerror = () => done(null);
      worker.postMessage({ salt: challenge.salt, challenge: challenge.challenge, max: challenge.maxnumber ?? challenge.difficulty });
    });

  const accessFrom = async (grant, receivedAt) => {
    const access = { purchaseToken: grant.purchaseToken, expiresAt: Date.parse(grant.expiresAt), usableAt: receivedAt };
    if (!grant.challenge) return { ok: true, data: access };
    page.say('Checking that you are a person, not a script…');
    access.challengeAnswer = await solve(grant.challenge);
    if (access.challengeAnswer === undefined) return { ok: false, error: { code: 'CHALLENGE_FAILED', message: 'no answer found' } };
    // The server refuses answers sent sooner than minSolveMs after the challenge was issued, which was before it arrived.
    access.usableAt = receivedAt + (grant.challenge.minSolveMs || 0);
    return { ok: true, data: access };
  };

  const acquireAccess = async () => {
    for (;;) {
      let answer = await page.withRetries(() => page.call('GET', `/sales/${saleId}/access`));
      if (answer.ok && answer.status === 202) answer = await waitInLine(answer.data);
      if (answer.ok) return accessFrom(answer.data, answer.receivedAt);
      if (answer.error.code === 'SALE_NOT_STARTED') {
        // This page's estimate of the server's clock ran ahead: wait as long as the server says, then ask again.
        await page.sleep((answer.retryAfterMs ?? 500) + Math.random() * 250);
      } else if (page.isRetryable(answer.error)) {
        // Getting in is worth waiting for: past a round of retries, keep asking at the slowest pace.
        page.say('The sale is very busy: still trying to get you in…');
        await page.sleep(page.retryDelay(Infinity, answer.retryAfterMs));
      } else {
        return answer;
      }
    }
  };

  page.registerAccess(acquireAccess);
})();
