/*
 * Fuzz target for the spool's records. The first byte chooses what the rest
 * is. Even: a spool file as a waiter finds it, valid up to its length less
 * (first byte / 2) % 16 bytes; it is walked record by record as sfrun does,
 * and every header that decodes must describe a record inside what is valid
 * and encode back to the same bytes. Odd: a command's output, a sequence of
 * (stream and length byte, bytes) written with spool_append and published
 * at random; walking the file must give back each stream's bytes exactly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "fuzz.h"

#define OUT_MAX	65536

/* Walk an image of a spool file valid up to valid; how far it got. */
static uint64_t
walk_image(const uint8_t *data, size_t size, uint64_t valid)
{
	uint8_t		h[SPOOL_HEADER_SIZE];
	uint64_t	at = 0;
	uint32_t	len;
	int		stream;

	while (at < valid) {
		if (valid - at < SPOOL_HEADER_SIZE) {
			MUST(spool_header_decode(data + at, at, valid,
			    &stream, &len) == -1);
			break;
		}
		if (spool_header_decode(data + at, at, valid, &stream,
		    &len) == -1)
			break;
		MUST(stream == SPOOL_STDOUT || stream == SPOOL_STDERR);
		MUST(len >= 1 && len <= SPOOL_RECORD_MAX);
		MUST(at + SPOOL_HEADER_SIZE + len <= valid && valid <= size);
		spool_header_encode(h, stream, len);
		MUST(memcmp(h, data + at, sizeof(h)) == 0);
		at += SPOOL_HEADER_SIZE + len;
	}
	return at;
}

/* Write ops as a command's output; the file must say the same. */
static void
write_read(const uint8_t *data, size_t size)
{
	static uint8_t	 want[2][OUT_MAX], got[2][OUT_MAX];
	struct spool	*sp;
	uint8_t		 h[SPOOL_HEADER_SIZE];
	size_t		 wlen[2] = { 0, 0 }, glen[2] = { 0, 0 }, n;
	uint64_t	 valid, at = 0;
	uint32_t	 len;
	int		 stream;

	if ((sp = spool_new()) == NULL)
		return;
	while (size >= 1) {
		stream = data[0] & 1;
		n = (size_t)(data[0] >> 2) + 1;
		if (n > size - 1)
			n = size - 1;
		if (data[0] & 2)
			spool_publish(sp);
		if (n > 0) {
			MUST(spool_append(sp, stream, data + 1, n) == 0);
			memcpy(want[stream] + wlen[stream], data + 1, n);
			wlen[stream] += n;
		}
		data += 1 + n;
		size -= 1 + n;
	}
	valid = spool_publish(sp);
	MUST(spool_bytes(sp) == wlen[0] + wlen[1]);
	while (at < valid) {
		MUST(pread(spool_fd(sp), h, sizeof(h), (off_t)at) ==
		    (ssize_t)sizeof(h));
		MUST(spool_header_decode(h, at, valid, &stream, &len) == 0);
		MUST(glen[stream] + len <= OUT_MAX);
		MUST(pread(spool_fd(sp), got[stream] + glen[stream], len,
		    (off_t)(at + SPOOL_HEADER_SIZE)) == (ssize_t)len);
		glen[stream] += len;
		at += SPOOL_HEADER_SIZE + len;
	}
	MUST(at == valid);
	MUST(glen[0] == wlen[0] && memcmp(got[0], want[0], wlen[0]) == 0);
	MUST(glen[1] == wlen[1] && memcmp(got[1], want[1], wlen[1]) == 0);
	spool_free(sp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	cut;

	if (size == 0 || size > OUT_MAX)
		return 0;
	if (data[0] & 1) {
		write_read(data + 1, size - 1);
		return 0;
	}
	cut = (uint64_t)(data[0] >> 1) % 16;
	size--;
	MUST(walk_image(data + 1, size, cut > size ? 0 : size - cut) <= size);
	return 0;
}
