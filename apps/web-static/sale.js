/*
 * The sale page's script. Static and cacheable like the page (seed 001): what may not be known before the start — the
 * purchase token, the proof of work, the waiting room — is fetched by activate.js, which this script loads at the
 * start with a random version. Dynamic data comes from small APIs: GET /sales/:id (server time, status, stock,
 * degradation level), the buyer's token, the order.
 *
 * Client retry policy (seed 000): RATE_LIMITED, OVERLOADED, DEGRADED (and the server starting up, a fault on its side,
 * or the network) are retried with exponential backoff and jitter, never sooner than the server's retryAfterMs, a
 * few times; every other code is final and shown in words. A click makes one Idempotency-Key, sent on every retry of
 * that click and kept until the click gets a final answer. At degradation level 3 a share of clicks is dropped here,
 * before anything is sent.
 */
(() => {
  'use strict';

  const RETRYABLE = new Set(['RATE_LIMITED', 'OVERLOADED', 'DEGRADED', 'NOT_READY', 'INTERNAL', 'NETWORK']);
  const RETRY = { firstDelayMs: 250, maxDelayMs: 8000, maxAttempts: 8, longestServerWaitMs: 30000 };
  const LEVEL_3_DROP_SHARE = 0.5;
  const SALE_REFRESH_MS = 5000;
  const REQUEST_TIMEOUT_MS = 10000;
  /** A purchase token with less than this left is renewed before it is sent. */
  const TOKEN_MARGIN_MS = 5000;
  /** A site that signs its buyers in leaves their bearer token here; without one, the demo mints a token. */
  const TOKEN_KEY = 'flash-sale.token';
  const DEMO_USER_KEY = 'flash-sale.demo-user';

  const FINAL_MESSAGES = {
    SOLD_OUT: 'Sold out: every unit has been taken.',
    LIMIT_EXCEEDED: 'You already hold as many units as one buyer may have.',
    SALE_ENDED: 'This sale has ended.',
    SALE_NOT_STARTED: 'The sale has not started yet.',
    BLOCKED: 'Purchases from this account or network are blocked.',
    UNAUTHENTICATED: 'Your session has expired: reload the page to sign in again.',
    FORBIDDEN: 'This account may not buy in this sale.',
    INVALID_PURCHASE_TOKEN: 'Your pass to the sale has expired: reload the page to get a new one.',
    CHALLENGE_FAILED: 'The check that you are a person failed: reload the page to try again.',
    NOT_FOUND: 'This sale does not exist.',
    IDEMPOTENCY_KEY_REUSED: 'This purchase was already sent with another quantity: reload the page.',
    ORDER_NOT_PAYABLE: 'This order can no longer be paid: its hold has ended.',
    VALIDATION_FAILED: 'The request was refused: reload the page and try again.',
    PAYLOAD_TOO_LARGE: 'The request was refused: reload the page and try again.',
  };
  const BUSY_MESSAGES = {
    RATE_LIMITED: 'Too many attempts at once',
    OVERLOADED: 'The sale is very busy',
    DEGRADED: 'The sale is shedding load',
    NOT_READY: 'The sale is warming up',
    INTERNAL: 'Something went wrong on our side',
    NETWORK: 'The connection failed',
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    name: $('product-name'), price: $('price'), stock: $('stock'),
    countdownBox: $('countdown-box'), countdown: $('countdown'), opensAt: $('opens-at'),
    quantity: $('quantity'), buy: $('buy'), status: $('status'), alert: $('alert'),
    order: $('order'), orderTitle: $('order-title'), orderId: $('order-id'), orderQuantity: $('order-quantity'),
    orderTotal: $('order-total'), orderStatus: $('order-status'), deadlineBox: $('deadline-box'), deadline: $('deadline'), pay: $('pay'),
  };

  const page = {
    saleId: new URLSearchParams(location.search).get('sale') || undefined,
    sale: undefined,
    token: undefined,
    demo: false,
    /** {purchaseToken, expiresAt (server clock), challengeAnswer?, usableAt (performance.now())} */
    access: undefined,
    acquireAccess: undefined,
    activation: undefined,
    /** The click in progress, or one left without a final answer: {key, quantity}. */
    pending: undefined,
    sending: false,
    paying: false,
    order: undefined,
  };

  // ---- small tools ---------------------------------------------------------------------------------------------

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const randomHex = (bytes) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');

  const storage = {
    get: (key) => {
      try {
        return localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set: (key, value) => {
      try {
        localStorage.setItem(key, value);
      } catch {
        // private mode: the page still works, it just forgets across reloads
      }
    },
  };

  const setState = (state) => {
    document.body.dataset.state = state;
  };
  const say = (text) => {
    ui.status.textContent = text;
  };
  const warn = (text) => {
    ui.alert.textContent = text;
  };

  const currency = document.documentElement.dataset.currency || 'EUR';
  const formatPrice = (minorUnits) => {
    try {
      return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minorUnits / 100);
    } catch {
      return (minorUnits / 100).toFixed(2);
    }
  };

  const formatDuration = (ms) => {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const days = Math.floor(total / 86400);
    const two = (n) => String(n).padStart(2, '0');
    const clock = `${two(Math.floor((total % 86400) / 3600))}:${two(Math.floor((total % 3600) / 60))}:${two(total % 60)}`;
    return days > 0 ? `${days}d ${clock}` : clock;
  };
  const durationAttribute = (ms) => `PT${Math.max(0, Math.ceil(ms / 1000))}S`;

  // ---- the server's clock ---------------------------------------------------------------------------------------

  /**
   * The server's time, estimated from the serverTime of GET /sales/:id: taken halfway through the round trip (so off
   * by at most half of it), from the quickest round trip of the last minute, and carried forward on the monotonic
   * clock, so neither a skewed nor a jumping local clock moves the countdown.
   */
  const clock = {
    anchor: undefined,
    now() {
      return this.anchor ? this.anchor.serverMs + (performance.now() - this.anchor.perfMs) : Date.now();
    },
    sample(serverTime, ageSeconds, sentAt, receivedAt) {
      const serverMs = Date.parse(serverTime) + (Number(ageSeconds) || 0) * 1000;
      if (!Number.isFinite(serverMs)) return;
      const rttMs = receivedAt - sentAt;
      const anchor = this.anchor;
      if (anchor && rttMs > anchor.rttMs && receivedAt - anchor.perfMs < 60000) return;
      this.anchor = { serverMs, perfMs: (sentAt + receivedAt) / 2, rttMs };
    },
  };

  // ---- HTTP: one request, then the retry policy -----------------------------------------------------------------

  const retryAfterOf = (error, headers) => {
    if (typeof error.retryAfterMs === 'number' && error.retryAfterMs >= 0) return error.retryAfterMs;
    const seconds = headers ? Number(headers.get('retry-after')) : NaN;
    return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
  };

  /** One request: `{ok: true, status, data}` or `{ok: false, status, error: {code, message}, retryAfterMs}`, never a throw. */
  const call = async (method, path, { body, headers } = {}) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    const sentAt = performance.now();
    try {
      const response = await fetch(path, {
        method,
        cache: 'no-store',
        signal: controller.signal,
        headers: {
          accept: 'application/json',
          ...(page.token ? { authorization: `Bearer ${page.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const data = await response.json().catch(() => undefined);
      const answer = { status: response.status, headers: response.headers, sentAt, receivedAt: performance.now() };
      if (response.ok) return { ...answer, ok: true, data };
      const error =
        data && data.error && typeof data.error.code === 'string'
          ? data.error
          : { code: response.status >= 500 ? 'NETWORK' : `HTTP_${response.status}`, message: response.statusText };
      return { ...answer, ok: false, error, retryAfterMs: retryAfterOf(error, response.headers) };
    } catch (failure) {
      return { ok: false, status: 0, error: { code: 'NETWORK', message: String((failure && failure.message) || failure) } };
    } finally {
      clearTimeout(timer);
    }
  };

  const isRetryable = (error) => RETRYABLE.has(error.code) || (!(error.code in FINAL_MESSAGES) && error.retryable === true);

  /**
   * The wait before retry number `attempt`: drawn in [d/2, d] with d = 250 ms · 2^(attempt-1), at most 8 s; never
   * shorter than what the server asked (retryAfterMs, up to 30 s), and up to a fifth longer, so a crowd told the same
   * wait does not come back in step.
   */
  const retryDelay = (attempt, retryAfterMs) => {
    const ceiling = Math.min(RETRY.maxDelayMs, RETRY.firstDelayMs * 2 ** (attempt - 1));
    const backoff = ceiling / 2 + (Math.random() * ceiling) / 2;
    const asked = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, RETRY.longestServerWaitMs) * (1 + Math.random() * 0.2);
    return Math.round(Math.max(backoff, asked));
  };

  const retrying = (error, delayMs) => say(`${BUSY_MESSAGES[error.code] || 'The sale is busy'}: trying again in ${Math.max(1, Math.round(delayMs / 1000))} s…`);

  /** Sends, and sends again while the answer is retryable, up to RETRY.maxAttempts sends. */
  const withRetries = async (send, onRetry = retrying) => {
    for (let attempt = 1; ; attempt++) {
      const answer = await send();
      if (answer.ok || !isRetryable(answer.error) || attempt >= RETRY.maxAttempts) return answer;
      const delayMs = retryDelay(attempt, answer.retryAfterMs);
      onRetry(answer.error, delayMs);
      await sleep(delayMs);
    }
  };

  const messageOf = (error) => FINAL_MESSAGES[error.code] || error.message || `The request failed (${error.code}).`;

  // ---- the sale: what is shown before the start -----------------------------------------------------------------

  const fetchSale = async () => {
    const answer = await withRetries(() => call('GET', `/sales/${encodeURIComponent(page.saleId)}`), () => {});
    if (answer.ok) clock.sample(answer.data.serverTime, answer.headers.get('age'), answer.sentAt, answer.receivedAt);
    return answer;
  };

  const stockText = (sale) => {
    if (sale.status === 'sold_out') return 'No units left.';
    if (sale.status === 'ended') return 'The sale is over.';
    return `${sale.availableApprox} left · at most ${sale.perUserLimit} per buyer`;
  };

  const showSale = (sale) => {
    const first = page.sale === undefined;
    page.sale = sale;
    ui.stock.textContent = stockText(sale);
    if (!first) return;
    document.title = `${sale.name} · flash sale`;
    ui.name.textContent = sale.name;
    ui.price.textContent = formatPrice(sale.price);
    ui.quantity.replaceChildren(
      ...Array.from({ length: Math.max(1, Math.min(sale.perUserLimit, 10)) }, (_, i) => new Option(String(i + 1), String(i + 1))),
    );
    ui.opensAt.textContent = `Opens ${new Date(Date.parse(sale.startsAt)).toLocaleString()}`;
  };

  const setBuy = (enabled, label) => {
    ui.buy.disabled = !enabled;
    ui.buy.textContent = label;
    ui.quantity.disabled = !enabled || page.pending !== undefined;
  };

  const tickCountdown = () => {
    const left = Date.parse(page.sale.startsAt) - clock.now();
    if (left > 0) {
      ui.countdown.textContent = formatDuration(left);
      ui.countdown.dateTime = durationAttribute(left);
      setTimeout(tickCountdown, left % 1000 || 1000); // the next whole second of the server's clock
      return;
    }
    ui.countdownBox.hidden = true;
    void activate();
  };

  /** Status, stock and degradation level every few seconds (jittered): the sale may sell out or come back. */
  const refreshSale = async () => {
    if (!document.hidden) {
      const answer = await fetchSale();
      if (answer.ok) {
        showSale(answer.data);
        followStatus();
      }
    }
    setTimeout(refreshSale, SALE_REFRESH_MS * (0.8 + Math.random() * 0.4));
  };

  const followStatus = () => {
    if (page.order) return;
    const { status } = page.sale;
    if (status === 'ended') return showFinal({ code: 'SALE_ENDED' });
    if (status === 'sold_out' && !page.sending) return showFinal({ code: 'SOLD_OUT' });
    if (status !== 'open') return;
    if (document.body.dataset.state === 'sold_out') {
      // Holds expired and units came back: the buyer may try again.
      if (page.access) return void showReady();
      page.activation = undefined;
    }
    void activate();
  };

  const showFinal = (error) => {
    if (error.code === 'SOLD_OUT' || error.code === 'SALE_ENDED') {
      const status = error.code === 'SOLD_OUT' ? 'sold_out' : 'ended';
      setState(status);
      setBuy(false, status === 'sold_out' ? 'Sold out' : 'Sale ended');
      ui.stock.textContent = stockText({ status }); // the answer is newer than the last look at the sale
      ui.countdownBox.hidden = true;
      say('');
      warn(messageOf(error));
      return;
    }
    setState('refused');
    setBuy(page.access !== undefined && !page.order, 'Buy now');
    say('');
    warn(messageOf(error));
  };

  // ---- activation: the script fetched at the start --------------------------------------------------------------

  const loadActivationScript = () =>
    new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = `/sale-page/activate.js?v=${randomHex(8)}`; // a version nobody could have cached
      script.onload = () => resolve();
      script.onerror = () => {
        script.remove();
        reject(new Error('the activation script did not load'));
      };
      document.head.append(script);
    });

  /** Gets a purchase token through the activation script (loading it first, with retries). */
  const getAccess = async () => {
    for (let attempt = 1; !page.acquireAccess; attempt++) {
      try {
        await loadActivationScript();
      } catch {
        const delayMs = retryDelay(Math.min(attempt, RETRY.maxAttempts), undefined);
        retrying({ code: 'NETWORK' }, delayMs);
        await sleep(delayMs);
      }
    }
    const answer = await page.acquireAccess();
    if (answer.ok) page.access = answer.data;
    return answer;
  };

  const activate = () => {
    if (page.activation || page.order || !page.token) return page.activation;
    setState('activating');
    setBuy(false, 'Opening…');
    say('The sale is open: getting you in…');
    page.activation = getAccess().then((answer) => {
      if (answer.ok) showReady();
      else showFinal(answer.error);
    });
    return page.activation;
  };

  const waitUntilUsable = async () => {
    const wait = page.access.usableAt - performance.now();
    if (wait > 0) await sleep(wait);
  };

  const showReady = async () => {
    await waitUntilUsable();
    if (page.order || document.body.dataset.state === 'sold_out') return;
    setState('ready');
    setBuy(true, 'Buy now');
    warn('');
    say('The sale is open: the Buy now button is on.');
    if (document.activeElement === document.body) ui.buy.focus();
  };

  // ---- buying ---------------------------------------------------------------------------------------------------

  const accessFresh = () => page.access !== undefined && page.access.expiresAt - clock.now() > TOKEN_MARGIN_MS;

  const reserve = async (pending) => {
    for (let renewals = 0; ; renewals++) {
      if (!accessFresh()) {
        const renewed = await getAccess();
        if (!renewed.ok) return renewed;
      }
      await waitUntilUsable();
      const { purchaseToken, challengeAnswer } = page.access;
      const answer = await withRetries(() =>
        call('POST', `/sales/${encodeURIComponent(page.saleId)}/reservations`, {
          headers: { 'idempotency-key': pending.key },
          body: { quantity: pending.quantity, purchaseToken, ...(challengeAnswer ? { challengeAnswer } : {}) },
        }),
      );
      // A pass that went stale while the click waited: get a fresh one and send the same key again, once.
      const stale = !answer.ok && (answer.error.code === 'INVALID_PURCHASE_TOKEN' || answer.error.code === 'CHALLENGE_FAILED');
      if (!stale || renewals >= 1) return answer;
      page.access = undefined;
    }
  };

  const buy = async () => {
    if (page.sending || page.order || !page.access) return; // a second click while the first is in flight sends nothing
    if (page.sale.degradationLevel === 3 && Math.random() < LEVEL_3_DROP_SHARE) {
      say('');
      warn('The sale is overloaded: this click was not sent and nothing was bought. Please try again in a moment.');
      return;
    }
    page.pending = page.pending || { key: randomHex(16), quantity: Number(ui.quantity.value) || 1 };
    page.sending = true;
    setState('sending');
    setBuy(false, 'Sending…');
    ui.buy.setAttribute('aria-busy', 'true');
    warn('');
    say('Sending your order…');
    const answer = await reserve(page.pending);
    page.sending = false;
    ui.buy.removeAttribute('aria-busy');
    if (answer.ok) {
      page.pending = undefined;
      showOrder(answer.data);
    } else if (isRetryable(answer.error)) {
      // No final answer: the key is kept, so the next click cannot buy twice if this one did get through.
      setState('ready');
      setBuy(true, 'Try again');
      say('');
      warn(`${BUSY_MESSAGES[answer.error.code] || 'The sale is busy'}: we stopped retrying for now. Press the button to try again; you will not buy twice.`);
    } else {
      page.pending = undefined;
      showFinal(answer.error);
    }
  };

  // ---- the order and its payment --------------------------------------------------------------------------------

  const ORDER_WORDS = { reserved: 'Reserved', placed: 'Placed', paid: 'Paid', expired: 'Expired', cancelled: 'Cancelled', refund_pending: 'Refund pending' };

  const orderKey = () => `flash-sale.order.${page.saleId}`;

  const showOrder = (order, { restored = false } = {}) => {
    page.order = order;
    storage.set(orderKey(), order.orderId);
    ui.countdownBox.hidden = true;
    ui.order.hidden = false;
    ui.orderId.textContent = order.orderId;
    ui.orderQuantity.textContent = String(order.quantity);
    ui.orderTotal.textContent = formatPrice(page.sale.price * order.quantity);
    ui.orderStatus.textContent = ORDER_WORDS[order.status] || order.status;
    setBuy(false, ORDER_WORDS[order.status] || 'Ordered');
    warn('');
    const payable = order.status === 'reserved' || order.status === 'placed';
    ui.pay.hidden = !(page.demo && payable);
    ui.deadlineBox.hidden = !(order.status === 'reserved' && order.expiresAt);
    if (order.status === 'paid') {
      setState('paid');
      say('Paid. The unit is yours.');
    } else if (payable) {
      setState('reserved');
      say(order.status === 'reserved' ? 'Reserved: the unit is held for you until the payment deadline.' : 'Your order is placed.');
      if (!ui.deadlineBox.hidden) tickDeadline();
    } else {
      setState('order_ended');
      say(order.status === 'expired' ? 'Your hold expired: the unit went back to the sale.' : `Your order is ${ORDER_WORDS[order.status] || order.status}.`);
    }
    if (!restored) ui.orderTitle.focus();
  };

  const tickDeadline = async () => {
    const order = page.order;
    if (!order || order.status !== 'reserved') return;
    const left = Date.parse(order.expiresAt) - clock.now();
    ui.deadline.textContent = formatDuration(left);
    ui.deadline.dateTime = durationAttribute(left);
    if (left > 0) {
      setTimeout(tickDeadline, left % 1000 || 1000);
      return;
    }
    // The server decides when a hold ends: ask it, and ask again a little later if it has not run its sweep yet.
    const answer = await withRetries(() => call('GET', `/orders/${encodeURIComponent(order.orderId)}`), () => {});
    if (answer.ok && answer.data.status !== 'reserved') showOrder(answer.data, { restored: true });
    else setTimeout(tickDeadline, 1000);
  };

  const pay = async () => {
    if (page.paying || !page.order) return;
    page.paying = true;
    ui.pay.disabled = true;
    ui.pay.setAttribute('aria-busy', 'true');
    warn('');
    say('Paying…');
    const answer = await withRetries(() => call('POST', `/demo/payments/${encodeURIComponent(page.order.orderId)}`));
    page.paying = false;
    ui.pay.disabled = false;
    ui.pay.removeAttribute('aria-busy');
    if (answer.ok) {
      showOrder({ ...page.order, status: answer.data.status });
      return;
    }
    say('');
    warn(messageOf(answer.error));
    if (answer.error.code === 'ORDER_NOT_PAYABLE') {
      const order = await call('GET', `/orders/${encodeURIComponent(page.order.orderId)}`);
      if (order.ok) showOrder(order.data, { restored: true });
    }
  };

  // ---- start ----------------------------------------------------------------------------------------------------

  const signIn = async () => {
    const token = storage.get(TOKEN_KEY);
    if (token) {
      page.token = token;
      return;
    }
    let user = storage.get(DEMO_USER_KEY);
    if (!user) {
      user = `buyer-${randomHex(6)}`;
      storage.set(DEMO_USER_KEY, user);
    }
    const answer = await withRetries(() => call('POST', '/auth/dev-token', { body: { userId: user } }), () => {});
    if (answer.ok && answer.data && typeof answer.data.token === 'string') {
      page.token = answer.data.token;
      page.demo = true;
    }
  };

  /** After a reload: the order this browser made in this sale, if it is still there. */
  const restoreOrder = async () => {
    const orderId = storage.get(orderKey());
    if (!orderId) return false;
    const answer = await call('GET', `/orders/${encodeURIComponent(orderId)}`);
    if (!answer.ok || answer.data.saleId !== page.saleId) return false;
    showOrder(answer.data, { restored: true });
    return true;
  };

  const start = async () => {
    ui.buy.addEventListener('click', buy);
    ui.pay.addEventListener('click', pay);
    window.flashSalePage = {
      get saleId() {
        return page.saleId;
      },
      call,
      withRetries,
      retryDelay,
      isRetryable,
      sleep,
      say,
      showQueue: (position, estimatedWaitMs) => {
        setState('waiting');
        say(`You are in line: number ${position}, about ${formatDuration(estimatedWaitMs)} to wait. Keep this page open.`);
      },
      registerAccess: (acquire) => {
        page.acquireAccess = acquire;
      },
    };
    await signIn();
    if (!page.saleId) {
      const demo = await withRetries(() => call('GET', '/demo/sale'), () => {});
      if (!demo.ok) return showFinal({ code: 'NO_SALE', message: 'No sale chosen: open this page with ?sale=<sale id> in its address.' });
      page.saleId = demo.data.saleId;
    }
    const first = await fetchSale();
    if (!first.ok) return showFinal(first.error);
    showSale(first.data);
    setTimeout(refreshSale, SALE_REFRESH_MS * (0.8 + Math.random() * 0.4));
    if (!page.token) {
      setBuy(false, 'Buy now');
      warn('Sign in to buy: this page found no buyer account.');
    }
    if (page.token && (await restoreOrder())) return;
    if (first.data.status === 'ended' || first.data.status === 'sold_out') return followStatus();
    setState('scheduled');
    setBuy(false, 'Buy now');
    ui.countdownBox.hidden = false;
    tickCountdown();
  };

  void start();
})();
