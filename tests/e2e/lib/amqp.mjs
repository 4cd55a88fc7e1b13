// A tiny AMQP 0-9-1 client for the end-to-end tests, so a test can act like
// a service publishing into a RabbitMQ stream (SPEC §3): connect with PLAIN,
// declare a stream, publish with publisher confirms, and learn the stream
// offset each message got by reading it back with a stream consumer
// (x-stream-offset "next"), matched by message-id. Only what the tests use;
// frames are parsed completely, unknown methods are ignored.

import net from 'node:net';

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;

/* ---- encoding ------------------------------------------------------------ */

class Writer {
    constructor() { this.parts = []; }
    u8(v) { const b = Buffer.alloc(1); b.writeUInt8(v); this.parts.push(b); return this; }
    u16(v) { const b = Buffer.alloc(2); b.writeUInt16BE(v); this.parts.push(b); return this; }
    u32(v) { const b = Buffer.alloc(4); b.writeUInt32BE(v); this.parts.push(b); return this; }
    u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(v)); this.parts.push(b); return this; }
    shortstr(s) { const b = Buffer.from(s); this.u8(b.length); this.parts.push(b); return this; }
    longstr(s) { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); this.u32(b.length); this.parts.push(b); return this; }
    bits(...flags) { let v = 0; flags.forEach((f, i) => { if (f) v |= 1 << i; }); return this.u8(v); }
    table(obj = {}) {
        const w = new Writer();
        for (const [k, v] of Object.entries(obj)) {
            w.shortstr(k);
            if (typeof v === 'number' || typeof v === 'bigint') w.u8(0x6c).u64(v); // 'l'
            else if (typeof v === 'boolean') w.u8(0x74).u8(v ? 1 : 0); // 't'
            else if (Buffer.isBuffer(v)) w.u8(0x78).longstr(v); // 'x'
            else w.u8(0x53).longstr(String(v)); // 'S'
        }
        return this.longstr(w.done());
    }
    done() { return Buffer.concat(this.parts); }
}

function frame(type, channel, payload) {
    const h = Buffer.alloc(7);
    h.writeUInt8(type, 0);
    h.writeUInt16BE(channel, 1);
    h.writeUInt32BE(payload.length, 3);
    return Buffer.concat([h, payload, Buffer.from([FRAME_END])]);
}

function method(channel, cls, id, args = (w) => w) {
    return frame(FRAME_METHOD, channel, args(new Writer().u16(cls).u16(id)).done());
}

/* ---- decoding ------------------------------------------------------------ */

class Reader {
    constructor(buf) { this.b = buf; this.o = 0; }
    u8() { return this.b.readUInt8(this.o++); }
    u16() { const v = this.b.readUInt16BE(this.o); this.o += 2; return v; }
    u32() { const v = this.b.readUInt32BE(this.o); this.o += 4; return v; }
    i64() { const v = this.b.readBigInt64BE(this.o); this.o += 8; return v; }
    u64() { const v = this.b.readBigUInt64BE(this.o); this.o += 8; return v; }
    shortstr() { const n = this.u8(); const s = this.b.toString('utf8', this.o, this.o + n); this.o += n; return s; }
    longbytes() { const n = this.u32(); const s = this.b.subarray(this.o, this.o + n); this.o += n; return s; }
    longstr() { return this.longbytes().toString('utf8'); }
    value() {
        const t = String.fromCharCode(this.u8());
        switch (t) {
        case 't': return this.u8() !== 0;
        case 'b': { const v = this.b.readInt8(this.o); this.o += 1; return v; }
        case 'B': return this.u8();
        case 's': { const v = this.b.readInt16BE(this.o); this.o += 2; return v; }
        case 'u': return this.u16();
        case 'I': { const v = this.b.readInt32BE(this.o); this.o += 4; return v; }
        case 'i': return this.u32();
        case 'l': return Number(this.i64());
        case 'f': { const v = this.b.readFloatBE(this.o); this.o += 4; return v; }
        case 'd': { const v = this.b.readDoubleBE(this.o); this.o += 8; return v; }
        case 'D': { const scale = this.u8(); const v = this.u32(); return v / 10 ** scale; }
        case 'S': return this.longstr();
        case 'x': return this.longbytes();
        case 'T': return Number(this.u64());
        case 'F': return this.table();
        case 'V': return null;
        case 'A': {
            const end = this.u32() + this.o;
            const out = [];
            while (this.o < end) out.push(this.value());
            return out;
        }
        default: throw new Error(`AMQP: unknown field type ${t}`);
        }
    }
    table() {
        const end = this.u32() + this.o;
        const out = {};
        while (this.o < end) { const k = this.shortstr(); out[k] = this.value(); }
        return out;
    }
}

/* Basic properties in flag order (bit 15 first). */
const PROPS = [
    ['contentType', 'shortstr'], ['contentEncoding', 'shortstr'], ['headers', 'table'],
    ['deliveryMode', 'u8'], ['priority', 'u8'], ['correlationId', 'shortstr'], ['replyTo', 'shortstr'],
    ['expiration', 'shortstr'], ['messageId', 'shortstr'], ['timestamp', 'u64'], ['type', 'shortstr'],
    ['userId', 'shortstr'], ['appId', 'shortstr'], ['clusterId', 'shortstr'],
];

function encodeProps(p) {
    let flags = 0;
    const w = new Writer();
    PROPS.forEach(([name, kind], i) => {
        if (p[name] === undefined) return;
        flags |= 1 << (15 - i);
        w[kind](p[name]);
    });
    return [flags, w.done()];
}

function decodeProps(r) {
    const flags = r.u16();
    const out = {};
    PROPS.forEach(([name, kind], i) => {
        if (flags & (1 << (15 - i))) out[name] = r[kind]();
    });
    return out;
}

/* ---- the client ---------------------------------------------------------- */

export class AmqpClient {
    /** Connects and logs in; opts: {host (127.0.0.1), user, pass, vhost}. */
    static async connect(port, opts = {}) {
        const c = new AmqpClient(net.connect(port, opts.host || '127.0.0.1'));
        await new Promise((resolve, reject) => {
            c.sock.once('connect', resolve);
            c.sock.once('error', reject);
        });
        c.sock.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
        await c.wait(0, 10, 10); // connection.start
        const auth = Buffer.from(`\0${opts.user || 'guest'}\0${opts.pass || 'guest'}`);
        c.sock.write(method(0, 10, 11, (w) => w.table({ product: 'herald-e2e' }).shortstr('PLAIN').longstr(auth).shortstr('en_US')));
        const tune = await c.wait(0, 10, 30);
        const r = new Reader(tune);
        const chMax = r.u16();
        const frameMax = r.u32();
        c.frameMax = Math.min(frameMax || 131072, 131072);
        c.sock.write(method(0, 10, 31, (w) => w.u16(chMax || 2047).u32(c.frameMax).u16(0)));
        await c.rpc(0, method(0, 10, 40, (w) => w.shortstr(opts.vhost || '/').shortstr('').u8(0)), 10, 41);
        await c.rpc(1, method(1, 20, 10, (w) => w.shortstr('')), 20, 11);
        await c.rpc(1, method(1, 85, 10, (w) => w.u8(0)), 85, 11);
        return c;
    }

    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.waiters = new Map(); // channel -> [{cls, id, resolve, reject}]
        this.nextTag = 1;
        this.confirms = new Map(); // publish tag -> {resolve, reject}
        this.readers = new Map(); // stream -> channel of its consumer
        this.byMsgId = new Map(); // message-id -> resolve(offset)
        this.nextChannel = 2;
        this.deliveries = new Map(); // channel -> message being assembled
        this.onDeliver = new Map(); // channel -> callback(offset) instead of message-id matching
        this.closed = null;
        this.msgSeq = 0;
        sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.drain(); });
        const fail = (e) => {
            this.closed = e || new Error('AMQP connection closed');
            for (const list of this.waiters.values()) for (const w of list.splice(0)) w.reject(this.closed);
            for (const p of this.confirms.values()) p.reject(this.closed);
            this.confirms.clear();
        };
        sock.on('error', fail);
        sock.on('close', () => fail());
    }

    drain() {
        for (;;) {
            if (this.buf.length < 7) return;
            const size = this.buf.readUInt32BE(3);
            if (this.buf.length < 7 + size + 1) return;
            const type = this.buf.readUInt8(0);
            const ch = this.buf.readUInt16BE(1);
            const payload = this.buf.subarray(7, 7 + size);
            this.buf = this.buf.subarray(7 + size + 1);
            this.onFrame(type, ch, payload);
        }
    }

    onFrame(type, ch, payload) {
        if (type === FRAME_METHOD) {
            const r = new Reader(payload);
            const cls = r.u16();
            const id = r.u16();
            const args = payload.subarray(4);
            if (cls === 60 && id === 60) { // basic.deliver
                r.shortstr();
                const tag = r.u64();
                this.deliveries.set(ch, { tag });
                return;
            }
            if (cls === 60 && (id === 80 || id === 120)) { // basic.ack / basic.nack (confirms)
                const tag = Number(r.u64());
                const multiple = (r.u8() & 1) !== 0;
                for (const [t, p] of [...this.confirms]) {
                    if (t === tag || (multiple && t <= tag)) {
                        this.confirms.delete(t);
                        if (id === 80) p.resolve(); else p.reject(new Error('AMQP: publish nacked'));
                    }
                }
                return;
            }
            if ((cls === 20 && id === 40) || (cls === 10 && id === 50)) { // channel/connection.close
                const code = r.u16();
                const text = r.shortstr();
                const err = new Error(`AMQP ${cls === 10 ? 'connection' : 'channel'} closed: ${code} ${text}`);
                err.code = code;
                const list = this.waiters.get(ch) || [];
                for (const w of list.splice(0)) w.reject(err);
                if (cls === 10) this.sock.destroy(err);
                else this.sock.write(method(ch, 20, 41));
                return;
            }
            const list = this.waiters.get(ch) || [];
            const i = list.findIndex((w) => w.cls === cls && w.id === id);
            if (i >= 0) list.splice(i, 1)[0].resolve(args);
            return;
        }
        const d = this.deliveries.get(ch);
        if (!d) return;
        if (type === FRAME_HEADER) {
            const r = new Reader(payload);
            r.u16(); r.u16();
            d.size = Number(r.u64());
            d.props = decodeProps(r);
            d.body = [];
            d.got = 0;
        } else if (type === FRAME_BODY) {
            d.body.push(payload);
            d.got += payload.length;
        }
        if (d.props && d.got === d.size) {
            this.deliveries.delete(ch);
            this.sock.write(method(ch, 60, 80, (w) => w.u64(d.tag).u8(0)));
            const id = d.props.messageId;
            const off = d.props.headers?.['x-stream-offset'];
            const hook = this.onDeliver.get(ch);
            if (hook) { hook(off); return; }
            const w = id !== undefined && this.byMsgId.get(id);
            if (w) { this.byMsgId.delete(id); w(off); }
        }
    }

    wait(ch, cls, id) {
        if (this.closed) return Promise.reject(this.closed);
        return new Promise((resolve, reject) => {
            if (!this.waiters.has(ch)) this.waiters.set(ch, []);
            this.waiters.get(ch).push({ cls, id, resolve, reject });
        });
    }

    rpc(ch, bytes, cls, id) {
        const p = this.wait(ch, cls, id);
        this.sock.write(bytes);
        return p;
    }

    /** Declares the stream queue (args: {'x-max-age': '1h', ...}); passive when args is null. */
    async declareStream(name, args = {}) {
        const passive = args === null;
        await this.rpc(1, method(1, 50, 10, (w) => w.u16(0).shortstr(name).bits(passive, true, false, false, false)
            .table(passive ? {} : { 'x-queue-type': 'stream', ...args })), 50, 11);
    }

    /** Starts a consumer on stream from "next" (once per stream) so publishes learn their offsets. */
    async reader(stream) {
        if (this.readers.has(stream)) return;
        const ch = this.nextChannel++;
        this.readers.set(stream, ch);
        await this.rpc(ch, method(ch, 20, 10, (w) => w.shortstr('')), 20, 11);
        await this.rpc(ch, method(ch, 60, 10, (w) => w.u32(0).u16(1000).u8(0)), 60, 11);
        await this.rpc(ch, method(ch, 60, 20, (w) => w.u16(0).shortstr(stream).shortstr(`e2e-${ch}`)
            .bits(false, false, false, false).table({ 'x-stream-offset': 'next' })), 60, 21);
    }

    /** The offset of the oldest message stream still holds (a consumer from "first"). */
    async firstOffset(stream = 'herald.events') {
        const ch = this.nextChannel++;
        const got = new Promise((resolve) => this.onDeliver.set(ch, resolve));
        await this.rpc(ch, method(ch, 20, 10, (w) => w.shortstr('')), 20, 11);
        await this.rpc(ch, method(ch, 60, 10, (w) => w.u32(0).u16(10).u8(0)), 60, 11);
        await this.rpc(ch, method(ch, 60, 20, (w) => w.u16(0).shortstr(stream).shortstr(`e2e-${ch}`)
            .bits(false, false, false, false).table({ 'x-stream-offset': 'first' })), 60, 21);
        const off = await got;
        this.onDeliver.set(ch, () => {});
        await this.rpc(ch, method(ch, 20, 40, (w) => w.u16(200).shortstr('').u16(0).u16(0)), 20, 41);
        this.onDeliver.delete(ch);
        return off;
    }

    /**
     * Publishes body (a string or Buffer) with the given headers to stream
     * through the default exchange; resolves to the stream offset once
     * RabbitMQ confirmed it and the reader saw it (or, with readBack false,
     * to null once confirmed).
     */
    async publishRaw(headers, body, stream = 'herald.events', readBack = true) {
        if (this.closed) throw this.closed;
        if (readBack) await this.reader(stream);
        const messageId = `e2e-${process.pid}-${++this.msgSeq}`;
        const seen = readBack ? new Promise((resolve) => this.byMsgId.set(messageId, resolve)) : null;
        const tag = this.nextTag++;
        const confirmed = new Promise((resolve, reject) => this.confirms.set(tag, { resolve, reject }));
        const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
        const [flags, props] = encodeProps({ headers, messageId, deliveryMode: 2 });
        const header = new Writer().u16(60).u16(0).u64(data.length).u16(flags).done();
        const frames = [method(1, 60, 40, (w) => w.u16(0).shortstr('').shortstr(stream).u8(0)),
            frame(FRAME_HEADER, 1, Buffer.concat([header, props]))];
        for (let o = 0; o < data.length; o += this.frameMax - 8) {
            frames.push(frame(FRAME_BODY, 1, data.subarray(o, o + this.frameMax - 8)));
        }
        this.sock.write(Buffer.concat(frames));
        await confirmed;
        if (!readBack) return null;
        let timer;
        try {
            return await Promise.race([seen, new Promise((_, rej) => {
                timer = setTimeout(() => rej(new Error(`AMQP: ${messageId} not read back from ${stream}`)), 10000);
            })]);
        } finally {
            clearTimeout(timer);
        }
    }

    /** A service publishing an event (SPEC §3); resolves to the Herald id (offset + 1). */
    async publish(channel, data, stream = 'herald.events') {
        return String(await this.publishRaw({ channel }, JSON.stringify(data), stream) + 1);
    }

    close() {
        this.sock.destroy();
    }
}
