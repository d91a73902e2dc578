/* version.h: the project version, printed by --version and in every "up" log line. */
#ifndef COMMON_VERSION_H
#define COMMON_VERSION_H

#define RSVP_VERSION "0.1.0"

#endif
