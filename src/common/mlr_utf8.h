/* UTF-8 text as a terminal shows it: code points and the columns they take. Used where Mallard
 * draws text itself (the CLI's tables and the shell's line editor), without depending on the
 * locale. Pure functions; no ownership. */
#ifndef MLR_UTF8_H
#define MLR_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the sequence a lead byte starts: 2-4, or 1 for ASCII and for bytes that start
 * none (continuation bytes, overlong leads 0xC0/0xC1, leads past U+10FFFF). */
size_t mlr_utf8_seq_len(unsigned char lead);

/* Decodes the code point at s[0..n) (n >= 1) into *cp and returns its length in bytes; a byte
 * that starts no valid sequence (one cut short by n, an overlong form, a surrogate, a value past
 * U+10FFFF) counts as one byte, U+FFFD. */
size_t mlr_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* C0 and C1 control characters and DEL, which a terminal acts on instead of showing. */
bool mlr_codepoint_is_control(uint32_t c);

/* Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): a terminal
 * that applies the bidi algorithm shows the text after one reordered, so text Mallard lays out
 * (a table's cells and borders) would show other than it is. */
bool mlr_codepoint_is_bidi_control(uint32_t c);

/* Terminal columns a code point takes: 0 for combining marks, joiners and variation selectors,
 * 2 for East Asian wide and fullwidth characters and emoji, 1 otherwise (wcwidth's answer for the
 * common cases). */
size_t mlr_codepoint_width(uint32_t c);

/* Columns s[0..n) takes. */
size_t mlr_utf8_width(const char *s, size_t n);

#endif /* MLR_UTF8_H */
