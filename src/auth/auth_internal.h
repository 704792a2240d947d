/* Functions shared between the files of src/auth only (not part of the module's API). */
#ifndef AUTH_INTERNAL_H
#define AUTH_INTERNAL_H

#include "auth/auth.h"

/* The service's per-call slot, kept in the identity (see auth_call_set_app_data). */
void auth_identity_set_app_data(auth_identity *id, void *data);
void *auth_identity_app_data(const auth_identity *id);

/* A Handshake without credentials starts / stops waiting for its credentials message. enter
 * answers false when max_waiting_handshakes already wait (then do not call leave). */
bool auth_waiting_handshake_enter(auth_service *svc);
void auth_waiting_handshake_leave(auth_service *svc);

/* The decoy hash an unknown user name is checked against (made at the first such login; NULL
 * without a users file). For the unit tests: its parameters are the users' most common. */
const char *auth_service_decoy_hash(auth_service *svc);

/* Reads n decimal digits at s into *out; false when one is not a digit. */
bool auth_digits(const char *s, size_t n, int *out);
/* A UTC date and time (proleptic Gregorian, year >= 0) as seconds since the epoch; false when the
 * fields are not a valid date and time (seconds 0-59). */
bool auth_utc_from_fields(int y, int mo, int d, int h, int mi, int s, int64_t *unix_s);

#endif /* AUTH_INTERNAL_H */
