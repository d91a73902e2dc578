/* javatext.h: the text rules of the JVM the reference job runs on (OpenJDK 17), where the reference's
 * answer depends on them: decoding UTF-8 into UTF-16 as java.io.InputStreamReader does (malformed
 * input replaced by U+FFFD), encoding a Java string back into UTF-8 (String.getBytes: an unpaired
 * surrogate becomes '?'), Double.toString, Double.parseDouble, Spark's non-ANSI cast of a string to
 * double, and Character.isJavaIdentifierStart/Part. Pure functions, any thread. */
#ifndef SERVICES_PARSER_JAVATEXT_H
#define SERVICES_PARSER_JAVATEXT_H

#include <stddef.h>
#include <stdint.h>

/* jt_utf8_decode: src[0..n) decoded as UTF-8 into UTF-16 code units at out (room for n units: never
 * more units than bytes), each malformed sequence replaced by one U+FFFD exactly as OpenJDK 17's
 * UTF-8 decoder delimits it; an incomplete sequence at the end is one malformed sequence. A surrogate
 * unit in the output is always half of a pair decoded from one four-byte sequence. Returns the
 * number of units. */
size_t jt_utf8_decode(const unsigned char *src, size_t n, uint16_t *out);

/* jt_utf16_to_utf8: units s[0..n) as UTF-8 into out (room for 3 * n bytes), a surrogate pair as one
 * four-byte sequence and an unpaired surrogate as '?', as String.getBytes(UTF_8). Returns the bytes. */
size_t jt_utf16_to_utf8(const uint16_t *s, size_t n, char *out);

/* jt_double_str: Double.toString(d) of OpenJDK 17 (FloatingDecimal, which is not always the shortest
 * text that reads back: 2.82879384806159E17 prints as 2.82879384806159008E17) into out, NUL-terminated.
 * Returns its length (at most 25). */
size_t jt_double_str(double d, char out[32]);

/* jt_parse_double: Double.parseDouble(s[0..n)): characters <= U+0020 trimmed at both ends, then an
 * optional sign and "NaN", "Infinity", a decimal number (digits with at most one '.', at least one
 * digit, optional exponent) or a hexadecimal one (0x...p...), optionally ended by one of fFdD. 0 and
 * *out on success, ERR_INVALID where Java throws NumberFormatException. s is UTF-8. */
int jt_parse_double(const char *s, size_t n, double *out);

/* jt_cast_double: Spark's non-ANSI cast(string AS double): jt_parse_double, else the special
 * spellings inf, +inf, infinity, +infinity, -inf, -infinity, nan in any case after trimming. 1 and
 * *out when the cast gives a value, 0 for NULL. */
int jt_cast_double(const char *s, size_t n, double *out);

/* Character.isJavaIdentifierStart / isJavaIdentifierPart of one UTF-16 unit (JDK 17, Unicode 13). */
int jt_is_ident_start(uint16_t c);
int jt_is_ident_part(uint16_t c);

#endif
