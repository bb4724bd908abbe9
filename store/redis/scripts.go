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

// appendScript checks the epoch, then appends a group of requests (each
// one caller's batch) with the next Seqs, each request whole or not at all:
// one whose publisher ids the log already holds is refused alone, and ids
// taken by an earlier request of the group count as held. Then it trims
// what retention no longer keeps. It is one atomic step: no other append
// can take a Seq in between.
//
// It first makes sure the log still holds what the node has seen of it
// (see renewScript): a log that ends before floor, or holds another event
// than the node saw at sightSeq, lost acknowledged events and gets a new
// epoch instead of handing their Seqs out again.
//
// KEYS: events, meta, ids. ARGV: epoch, maxEvents, maxBytes, cutoffMs (0:
// no age bound), floor (the highest Seq the node has seen in this epoch),
// the epoch to start if the log lost its tail, sightSeq and sightSum (the
// newest event the node saw the encoding of, and its SHA-1; 0 and "" for
// none), then per request: its count n, then n times: id, timeMs, size,
// encoding. It returns one result per
// request: the Seq of its last event (an integer), or "SEQ ID" naming an id
// already held.
var appendScript = goredis.NewScript(startEpochLua + refilledLua + `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if epoch ~= ARGV[1] then
  return redis.error_reply('SSEHUB-REPLACED ' .. tostring(epoch))
end
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
if last < tonumber(ARGV[5]) then
  startEpoch(ARGV[6])
  return redis.error_reply('SSEHUB-REPLACED lost its tail: ends at ' .. last .. ', event ' .. ARGV[5] .. ' was seen')
end
if refilled(ARGV[7], ARGV[8]) then
  startEpoch(ARGV[6])
  return redis.error_reply('SSEHUB-REPLACED lost its tail and was refilled: event ' .. ARGV[7] .. ' is not the one seen')
end
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
local results = {}
local at = 9
while at <= #ARGV do
  local n = tonumber(ARGV[at])
  local first = at + 1
  at = first + n * 4
  local refused = nil
  for b = first, at - 1, 4 do
    local id = ARGV[b]
    if id ~= '' then
      local held = redis.call('HGET', KEYS[3], id)
      if held then refused = held .. ' ' .. id break end
    end
  end
  if refused then
    results[#results + 1] = refused
  else
    for b = first, at - 1, 4 do
      last = last + 1
      local seq = string.format('%d', last)
      local id = ARGV[b]
      redis.call('XADD', KEYS[1], '0-' .. seq, 'm', ARGV[b + 1] .. ' ' .. ARGV[b + 2] .. ' ' .. id, 'e', ARGV[b + 3])
      if id ~= '' then redis.call('HSET', KEYS[3], id, seq) end
      bytes = bytes + tonumber(ARGV[b + 2])
    end
    results[#results + 1] = last
  end
end
local maxEvents, maxBytes, cutoff = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local count = redis.call('XLEN', KEYS[1])
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
return results
`)

// infoScript returns {epoch, last, bytes, events, first} and creates the
// log when its meta hash is missing: a new log, or one whose engine lost
// its data (restarted without persistence, flushed). Whatever is left of
// the old log is dropped then: its Seqs belonged to an epoch that is gone.
//
// KEYS: events, meta, ids. ARGV: the epoch to create the log with.
var infoScript = goredis.NewScript(startEpochLua + `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  startEpoch(ARGV[1])
  epoch = ARGV[1]
end
local last = redis.call('HGET', KEYS[2], 'last')
local bytes = redis.call('HGET', KEYS[2], 'bytes')
local count = redis.call('XLEN', KEYS[1])
local first = ''
if count > 0 then first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1] end
return {epoch, last, bytes, count, first}
`)

// renewScript starts a new epoch for a log that lost its tail: one whose
// end is before an event a node has seen in it (floor), or that holds at
// sightSeq another event than the one a node saw there (the lost tail was
// refilled by nodes that had not seen it). That happens when
// Redis answered an append and then lost it: a failover to a replica the
// append had not reached, or a restart whose AOF missed the last writes
// (appendfsync everysec or no, a machine that lost power). Handing those
// Seqs out again would give a client that holds one of the lost ids the
// wrong place to resume from; with a new epoch it gets ssehub-reset. What
// is left of the old log is dropped, as for a log that lost all its data.
// Only a node whose epoch is still the stored one renews, so nodes that
// notice at the same time start one new epoch, not several.
//
// KEYS: events, meta, ids. ARGV: epoch, floor, the new epoch, sightSeq,
// sightSum. It returns 1 when it renewed the log, 0 when the log holds
// what the node saw or the epoch changed.
var renewScript = goredis.NewScript(startEpochLua + refilledLua + `
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[1] then return 0 end
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
if last >= tonumber(ARGV[2]) and not refilled(ARGV[4], ARGV[5]) then return 0 end
startEpoch(ARGV[3])
return 1
`)

// startEpochLua defines, for the scripts that start a log over, what that
// is: the events and the id index dropped, and the meta hash set to the new
// epoch with nothing appended yet. KEYS: events, meta, ids.
const startEpochLua = `
local function startEpoch(epoch)
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'last', '0', 'bytes', '0')
end
`

// refilledLua defines refilled(seq, sum): whether the stream holds an
// event at seq whose encoding's SHA-1 is not sum. Within an epoch an entry
// is written once and only trimming removes it, so another one there means
// the stream lost the entry the node saw and another node, which had not
// seen it, appended under its Seq. A trimmed entry tells nothing: false.
// KEYS: events.
const refilledLua = `
local function refilled(seq, sum)
  if seq == '0' or seq == '' then return false end
  local entry = redis.call('XRANGE', KEYS[1], '0-' .. seq, '0-' .. seq)[1]
  if not entry then return false end
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then return redis.sha1hex(fields[i + 1]) ~= sum end
  end
  return false
end
`
