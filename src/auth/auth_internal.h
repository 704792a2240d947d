/* Functions shared between the files of src/auth only (not part of the module's API). */
#ifndef AUTH_INTERNAL_H
#define AUTH_INTERNAL_H

#include "auth/auth.h"

/* The service's per-call slot, kept in the identity (see auth_call_set_app_data). */
void auth_identity_set_app_data(auth_identity *id, void *data);
void *auth_identity_app_data(const auth_identity *id);

#endif /* AUTH_INTERNAL_H */
