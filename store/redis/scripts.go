package redis

import goredis "github.com/redis/go-redis/v9"

// The log's keys share one hash tag, {STREAM}, so that a script may touch
// them all even on Redis Cluster:
//
//	{STREAM}:events  the stream; entry id "0-SEQ", fields m (meta) and e (event)
//	{STREAM}:meta    hash: epoch, last (Seq of the newest event), bytes (held)
//	{STREAM}:ids     hash: publisher id -> Seq, for retained events only
//	{STREAM}:nodes   hash: node name -> "SUBSCRIBERS EXPIRES_UNIX_MS"
//
// An entry's m field is "TIME_MS SIZE ID": what trimming needs without
// decoding the event. Entry ids use only the sequence part, so an id is the
// Seq itself and a position needs no index: XRANGE from 0-(after+1).

// appendScript checks the epoch and the publisher ids, appends the batch
// with the next Seqs and trims what retention no longer keeps, all in one
// atomic step: no other append can take a Seq in between, and a refused
// batch leaves nothing behind.
//
// KEYS: events, meta, ids. ARGV: epoch, count, maxEvents, maxBytes,
// cutoffMs (0: no age bound), then per event: id, timeMs, size, encoding.
var appendScript = goredis.NewScript(`
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if epoch ~= ARGV[1] then
  return redis.error_reply('SSEHUB-REPLACED ' .. tostring(epoch))
end
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local id = ARGV[6 + i * 4]
  if id ~= '' then
    local held = redis.call('HGET', KEYS[3], id)
    if held then return redis.error_reply('SSEHUB-DUPLICATE ' .. held .. ' ' .. id) end
  end
end
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
for i = 0, n - 1 do
  local b = 6 + i * 4
  last = last + 1
  local seq = string.format('%d', last)
  local id = ARGV[b]
  redis.call('XADD', KEYS[1], '0-' .. seq, 'm', ARGV[b + 1] .. ' ' .. ARGV[b + 2] .. ' ' .. id, 'e', ARGV[b + 3])
  if id ~= '' then redis.call('HSET', KEYS[3], id, seq) end
  bytes = bytes + tonumber(ARGV[b + 2])
end
local maxEvents, maxBytes, cutoff = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local count = redis.call('XLEN', KEYS[1])
local keep = nil
while count > 0 do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local t, size, id = string.match(oldest[2][2], '^(%d+) (%d+) (.*)$')
  local over = (maxEvents > 0 and count > maxEvents) or (maxBytes > 0 and bytes > maxBytes) or
    (cutoff > 0 and tonumber(t) < cutoff)
  if not over then break end
  if id ~= '' then redis.call('HDEL', KEYS[3], id) end
  redis.call('XDEL', KEYS[1], oldest[1])
  bytes = bytes - tonumber(size)
  count = count - 1
end
redis.call('HSET', KEYS[2], 'last', string.format('%d', last), 'bytes', string.format('%d', bytes))
return string.format('%d', last)
`)

// infoScript returns {epoch, last, bytes, events, first} and creates the
// log when its meta hash is missing: a new log, or one whose engine lost
// its data (restarted without persistence, flushed). Whatever is left of
// the old log is dropped then: its Seqs belonged to an epoch that is gone.
//
// KEYS: events, meta, ids. ARGV: the epoch to create the log with.
var infoScript = goredis.NewScript(`
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'last', '0', 'bytes', '0')
  epoch = ARGV[1]
end
local last = redis.call('HGET', KEYS[2], 'last')
local bytes = redis.call('HGET', KEYS[2], 'bytes')
local count = redis.call('XLEN', KEYS[1])
local first = ''
if count > 0 then first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1] end
return {epoch, last, bytes, count, first}
`)
