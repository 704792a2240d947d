/* Flight control messages <-> protobuf bytes via protobuf-c (see flight_types_pb.h). The
 * protobuf-c structs built for encoding only borrow the caller's data; nothing is deep-copied
 * until decoding, where the result must outlive the protobuf-c message. */
#include "flight/flight_types_pb.h"

#include "Flight.pb-c.h"

#include <stdlib.h>
#include <string.h>

typedef Arrow__Flight__Protocol__FlightDescriptor pb_descriptor;
typedef Arrow__Flight__Protocol__FlightEndpoint pb_endpoint;
typedef Arrow__Flight__Protocol__FlightInfo pb_info;

static mlr_code oom(mlr_error *err) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
}

static mlr_code pack(const ProtobufCMessage *m, uint8_t **out, size_t *len, mlr_error *err) {
  size_t n = protobuf_c_message_get_packed_size(m);
  *out = malloc(n == 0 ? 1 : n);
  if (*out == NULL) return oom(err);
  *len = protobuf_c_message_pack(m, *out);
  return MALLARD_OK;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data,
                                size_t len, const char *name, mlr_error *err) {
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
  if (m == NULL)
    mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "malformed %s protobuf (%zu bytes)", name, len);
  return m;
}

static ProtobufCBinaryData bin(const flight_bytes *b) {
  ProtobufCBinaryData r = {.len = b->len, .data = b->data};
  return r;
}

/* --- descriptor --------------------------------------------------------------------------- */

static void descriptor_to_pb(const flight_descriptor *d, pb_descriptor *pb) {
  arrow__flight__protocol__flight_descriptor__init(pb);
  pb->type = (Arrow__Flight__Protocol__FlightDescriptor__DescriptorType)d->type;
  pb->cmd = bin(&d->cmd);
  pb->n_path = d->n_path;
  pb->path = d->path;
}

static mlr_code descriptor_from_pb(const pb_descriptor *pb, flight_descriptor *d, mlr_error *err) {
  flight_descriptor view = {.type = pb->type <= 2 ? (flight_descriptor_type)pb->type
                                                  : FLIGHT_DESCRIPTOR_UNKNOWN,
                            .cmd = {.data = pb->cmd.data, .len = pb->cmd.len},
                            .path = pb->path,
                            .n_path = pb->n_path};
  return flight_descriptor_copy(d, &view, err);
}

mlr_code flight_descriptor_encode(const flight_descriptor *d, uint8_t **out, size_t *len,
                                  mlr_error *err) {
  pb_descriptor pb;
  descriptor_to_pb(d, &pb);
  return pack(&pb.base, out, len, err);
}

mlr_code flight_descriptor_decode(const uint8_t *data, size_t len, flight_descriptor *out,
                                  mlr_error *err) {
  memset(out, 0, sizeof *out);
  ProtobufCMessage *m = unpack(&arrow__flight__protocol__flight_descriptor__descriptor, data, len,
                               "FlightDescriptor", err);
  if (m == NULL) return MALLARD_INVALID_ARGUMENT;
  mlr_code rc = MALLARD_OK;
  if (flight_pb_string_has_nul(data, len, 3))
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s", FLIGHT_PATH_NUL_MESSAGE);
  else
    rc = descriptor_from_pb((pb_descriptor *)m, out, err);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* --- one-bytes-field messages -------------------------------------------------------------- */

mlr_code flight_bytes_message_encode(const uint8_t *data, size_t len, uint8_t **out,
                                     size_t *out_len, mlr_error *err) {
  Arrow__Flight__Protocol__Ticket t = ARROW__FLIGHT__PROTOCOL__TICKET__INIT;
  t.ticket.data = (uint8_t *)data;
  t.ticket.len = len;
  return pack(&t.base, out, out_len, err);
}

mlr_code flight_bytes_message_decode(const uint8_t *data, size_t len, const char *type_name,
                                     flight_bytes *out, mlr_error *err) {
  out->data = NULL;
  out->len = 0;
  /* Ticket, Criteria, PutResult and Result share one layout: bytes at field 1. */
  ProtobufCMessage *m =
      unpack(&arrow__flight__protocol__ticket__descriptor, data, len, type_name, err);
  if (m == NULL) return MALLARD_INVALID_ARGUMENT;
  Arrow__Flight__Protocol__Ticket *t = (Arrow__Flight__Protocol__Ticket *)m;
  mlr_code rc = flight_bytes_copy(out, t->ticket.data, t->ticket.len, err);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* --- action -------------------------------------------------------------------------------- */

mlr_code flight_action_encode(const flight_action *a, uint8_t **out, size_t *len, mlr_error *err) {
  Arrow__Flight__Protocol__Action pb = ARROW__FLIGHT__PROTOCOL__ACTION__INIT;
  pb.type = a->type != NULL ? a->type : "";
  pb.body = bin(&a->body);
  return pack(&pb.base, out, len, err);
}

mlr_code flight_action_decode(const uint8_t *data, size_t len, flight_action *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  ProtobufCMessage *m =
      unpack(&arrow__flight__protocol__action__descriptor, data, len, "Action", err);
  if (m == NULL) return MALLARD_INVALID_ARGUMENT;
  Arrow__Flight__Protocol__Action *pb = (Arrow__Flight__Protocol__Action *)m;
  mlr_code rc = MALLARD_OK;
  if (flight_pb_string_has_nul(data, len, 1)) {
    protobuf_c_message_free_unpacked(m, NULL);
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "the action type contains a NUL byte (ListActions lists the actions)");
  }
  out->type = strdup(pb->type != NULL ? pb->type : "");
  if (out->type == NULL) rc = oom(err);
  if (rc == MALLARD_OK) rc = flight_bytes_copy(&out->body, pb->body.data, pb->body.len, err);
  if (rc != MALLARD_OK) flight_action_release(out);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* --- endpoint ------------------------------------------------------------------------------ */

/* Builds pb (borrowing e's data); *scratch receives allocations the caller frees. */
typedef struct endpoint_pb {
  pb_endpoint ep;
  Arrow__Flight__Protocol__Ticket ticket;
  Google__Protobuf__Timestamp ts;
  Arrow__Flight__Protocol__Location *locs;
  Arrow__Flight__Protocol__Location **loc_ptrs;
} endpoint_pb;

static mlr_code endpoint_to_pb(const flight_endpoint *e, endpoint_pb *pb, mlr_error *err) {
  memset(pb, 0, sizeof *pb);
  arrow__flight__protocol__flight_endpoint__init(&pb->ep);
  arrow__flight__protocol__ticket__init(&pb->ticket);
  pb->ticket.ticket = bin(&e->ticket);
  pb->ep.ticket = &pb->ticket;
  if (e->n_locations > 0) {
    pb->locs = calloc(e->n_locations, sizeof *pb->locs);
    pb->loc_ptrs = calloc(e->n_locations, sizeof *pb->loc_ptrs);
    if (pb->locs == NULL || pb->loc_ptrs == NULL) {
      free(pb->locs);
      free(pb->loc_ptrs);
      return oom(err);
    }
    for (size_t i = 0; i < e->n_locations; i++) {
      arrow__flight__protocol__location__init(&pb->locs[i]);
      pb->locs[i].uri = e->locations[i] != NULL ? e->locations[i] : "";
      pb->loc_ptrs[i] = &pb->locs[i];
    }
    pb->ep.n_location = e->n_locations;
    pb->ep.location = pb->loc_ptrs;
  }
  if (e->expiration_time.set) {
    google__protobuf__timestamp__init(&pb->ts);
    pb->ts.seconds = e->expiration_time.seconds;
    pb->ts.nanos = e->expiration_time.nanos;
    pb->ep.expiration_time = &pb->ts;
  }
  pb->ep.app_metadata = bin(&e->app_metadata);
  return MALLARD_OK;
}

static void endpoint_pb_free(endpoint_pb *pb) {
  free(pb->locs);
  free(pb->loc_ptrs);
}

static mlr_code endpoint_from_pb(const pb_endpoint *pb, flight_endpoint *e, mlr_error *err) {
  memset(e, 0, sizeof *e);
  mlr_code rc = MALLARD_OK;
  if (pb->ticket != NULL)
    rc = flight_bytes_copy(&e->ticket, pb->ticket->ticket.data, pb->ticket->ticket.len, err);
  if (rc == MALLARD_OK && pb->n_location > 0) {
    e->locations = calloc(pb->n_location, sizeof *e->locations);
    if (e->locations == NULL) rc = oom(err);
    for (size_t i = 0; rc == MALLARD_OK && i < pb->n_location; i++) {
      const char *uri = pb->location[i]->uri;
      e->locations[i] = strdup(uri != NULL ? uri : "");
      if (e->locations[i] == NULL) rc = oom(err);
      e->n_locations = i + 1;
    }
  }
  if (pb->expiration_time != NULL) {
    e->expiration_time.set = true;
    e->expiration_time.seconds = pb->expiration_time->seconds;
    e->expiration_time.nanos = pb->expiration_time->nanos;
  }
  if (rc == MALLARD_OK && pb->app_metadata.len > 0)
    rc = flight_bytes_copy(&e->app_metadata, pb->app_metadata.data, pb->app_metadata.len, err);
  if (rc != MALLARD_OK) flight_endpoint_release(e);
  return rc;
}

mlr_code flight_endpoint_encode(const flight_endpoint *e, uint8_t **out, size_t *len,
                                mlr_error *err) {
  endpoint_pb pb;
  MLR_RETURN_NOT_OK(endpoint_to_pb(e, &pb, err));
  mlr_code rc = pack(&pb.ep.base, out, len, err);
  endpoint_pb_free(&pb);
  return rc;
}

mlr_code flight_endpoint_decode(const uint8_t *data, size_t len, flight_endpoint *out,
                                mlr_error *err) {
  memset(out, 0, sizeof *out);
  ProtobufCMessage *m = unpack(&arrow__flight__protocol__flight_endpoint__descriptor, data, len,
                               "FlightEndpoint", err);
  if (m == NULL) return MALLARD_INVALID_ARGUMENT;
  mlr_code rc = endpoint_from_pb((pb_endpoint *)m, out, err);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* --- info ---------------------------------------------------------------------------------- */

typedef struct info_pb {
  pb_info info;
  pb_descriptor desc;
  endpoint_pb *eps;
  pb_endpoint **ep_ptrs;
  size_t n_eps;
  uint8_t *schema_bytes;
} info_pb;

static void info_pb_free(info_pb *pb) {
  for (size_t i = 0; i < pb->n_eps; i++) endpoint_pb_free(&pb->eps[i]);
  free(pb->eps);
  free(pb->ep_ptrs);
  free(pb->schema_bytes);
}

static mlr_code info_to_pb(const flight_info *info, info_pb *pb, mlr_error *err) {
  memset(pb, 0, sizeof *pb);
  arrow__flight__protocol__flight_info__init(&pb->info);
  mlr_code rc = MALLARD_OK;
  if (info->schema.release != NULL) {
    int64_t n = 0;
    rc = ipc_schema_to_flight_bytes(&info->schema, &pb->schema_bytes, &n, err);
    if (rc != MALLARD_OK) return rc;
    pb->info.schema.data = pb->schema_bytes;
    pb->info.schema.len = (size_t)n;
  }
  descriptor_to_pb(&info->descriptor, &pb->desc);
  pb->info.flight_descriptor = &pb->desc;
  if (info->n_endpoints > 0) {
    pb->eps = calloc(info->n_endpoints, sizeof *pb->eps);
    pb->ep_ptrs = calloc(info->n_endpoints, sizeof *pb->ep_ptrs);
    if (pb->eps == NULL || pb->ep_ptrs == NULL) {
      info_pb_free(pb);
      return oom(err);
    }
    for (size_t i = 0; i < info->n_endpoints; i++) {
      rc = endpoint_to_pb(&info->endpoints[i], &pb->eps[i], err);
      if (rc != MALLARD_OK) {
        info_pb_free(pb);
        return rc;
      }
      pb->n_eps = i + 1;
      pb->ep_ptrs[i] = &pb->eps[i].ep;
    }
    pb->info.n_endpoint = info->n_endpoints;
    pb->info.endpoint = pb->ep_ptrs;
  }
  pb->info.total_records = info->total_records;
  pb->info.total_bytes = info->total_bytes;
  pb->info.ordered = info->ordered;
  pb->info.app_metadata = bin(&info->app_metadata);
  return MALLARD_OK;
}

static mlr_code info_from_pb(const pb_info *pb, flight_info *info, mlr_error *err) {
  memset(info, 0, sizeof *info);
  mlr_code rc = MALLARD_OK;
  if (pb->schema.len > 0)
    rc = ipc_schema_from_flight_bytes(pb->schema.data, (int64_t)pb->schema.len, &info->schema, err);
  if (rc == MALLARD_OK && pb->flight_descriptor != NULL)
    rc = descriptor_from_pb(pb->flight_descriptor, &info->descriptor, err);
  if (rc == MALLARD_OK && pb->n_endpoint > 0) {
    info->endpoints = calloc(pb->n_endpoint, sizeof *info->endpoints);
    if (info->endpoints == NULL) rc = oom(err);
    for (size_t i = 0; rc == MALLARD_OK && i < pb->n_endpoint; i++) {
      rc = endpoint_from_pb(pb->endpoint[i], &info->endpoints[i], err);
      if (rc == MALLARD_OK) info->n_endpoints = i + 1;
    }
  }
  info->total_records = pb->total_records;
  info->total_bytes = pb->total_bytes;
  info->ordered = pb->ordered;
  if (rc == MALLARD_OK && pb->app_metadata.len > 0)
    rc = flight_bytes_copy(&info->app_metadata, pb->app_metadata.data, pb->app_metadata.len, err);
  if (rc != MALLARD_OK) flight_info_release(info);
  return rc;
}

mlr_code flight_info_encode(const flight_info *info, uint8_t **out, size_t *len, mlr_error *err) {
  info_pb pb;
  MLR_RETURN_NOT_OK(info_to_pb(info, &pb, err));
  mlr_code rc = pack(&pb.info.base, out, len, err);
  info_pb_free(&pb);
  return rc;
}

mlr_code flight_info_decode(const uint8_t *data, size_t len, flight_info *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  ProtobufCMessage *m =
      unpack(&arrow__flight__protocol__flight_info__descriptor, data, len, "FlightInfo", err);
  if (m == NULL) return MALLARD_INVALID_ARGUMENT;
  mlr_code rc = info_from_pb((pb_info *)m, out, err);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

mlr_code flight_poll_info_encode(const flight_poll_info *p, uint8_t **out, size_t *len,
                                 mlr_error *err) {
  Arrow__Flight__Protocol__PollInfo pb = ARROW__FLIGHT__PROTOCOL__POLL_INFO__INIT;
  info_pb ipb;
  bool have_info = false;
  pb_descriptor desc;
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  if (p->has_info) {
    MLR_RETURN_NOT_OK(info_to_pb(&p->info, &ipb, err));
    have_info = true;
    pb.info = &ipb.info;
  }
  if (p->has_descriptor) {
    descriptor_to_pb(&p->descriptor, &desc);
    pb.flight_descriptor = &desc;
  }
  if (p->has_progress) {
    pb.progress_present_case = ARROW__FLIGHT__PROTOCOL__POLL_INFO__PROGRESS_PRESENT_PROGRESS;
    pb.progress = p->progress;
  }
  if (p->expiration_time.set) {
    ts.seconds = p->expiration_time.seconds;
    ts.nanos = p->expiration_time.nanos;
    pb.expiration_time = &ts;
  }
  mlr_code rc = pack(&pb.base, out, len, err);
  if (have_info) info_pb_free(&ipb);
  return rc;
}

mlr_code flight_poll_info_decode(const uint8_t *data, size_t len, flight_poll_info *out,
                                 mlr_error *err) {
  memset(out, 0, sizeof *out);
  ProtobufCMessage *m =
      unpack(&arrow__flight__protocol__poll_info__descriptor, data, len, "PollInfo", err);
  if (m == NULL) return MALLARD_INVALID_ARGUMENT;
  Arrow__Flight__Protocol__PollInfo *pb = (Arrow__Flight__Protocol__PollInfo *)m;
  mlr_code rc = MALLARD_OK;
  if (pb->info != NULL) {
    rc = info_from_pb(pb->info, &out->info, err);
    out->has_info = rc == MALLARD_OK;
  }
  if (rc == MALLARD_OK && pb->flight_descriptor != NULL) {
    rc = descriptor_from_pb(pb->flight_descriptor, &out->descriptor, err);
    out->has_descriptor = rc == MALLARD_OK;
  }
  if (pb->progress_present_case == ARROW__FLIGHT__PROTOCOL__POLL_INFO__PROGRESS_PRESENT_PROGRESS) {
    out->has_progress = true;
    out->progress = pb->progress;
  }
  if (pb->expiration_time != NULL) {
    out->expiration_time.set = true;
    out->expiration_time.seconds = pb->expiration_time->seconds;
    out->expiration_time.nanos = pb->expiration_time->nanos;
  }
  if (rc != MALLARD_OK) flight_poll_info_release(out);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

mlr_code flight_schema_result_encode(const struct ArrowSchema *schema, uint8_t **out, size_t *len,
                                     mlr_error *err) {
  Arrow__Flight__Protocol__SchemaResult pb = ARROW__FLIGHT__PROTOCOL__SCHEMA_RESULT__INIT;
  uint8_t *bytes = NULL;
  int64_t n = 0;
  MLR_RETURN_NOT_OK(ipc_schema_to_flight_bytes(schema, &bytes, &n, err));
  pb.schema.data = bytes;
  pb.schema.len = (size_t)n;
  mlr_code rc = pack(&pb.base, out, len, err);
  free(bytes);
  return rc;
}

mlr_code flight_handshake_encode(uint64_t version, const uint8_t *payload, size_t payload_len,
                                 uint8_t **out, size_t *len, mlr_error *err) {
  Arrow__Flight__Protocol__HandshakeResponse pb = ARROW__FLIGHT__PROTOCOL__HANDSHAKE_RESPONSE__INIT;
  pb.protocol_version = version;
  pb.payload.data = (uint8_t *)payload;
  pb.payload.len = payload_len;
  return pack(&pb.base, out, len, err);
}

mlr_code flight_handshake_decode(const uint8_t *data, size_t len, uint64_t *version,
                                 flight_bytes *payload, mlr_error *err) {
  payload->data = NULL;
  payload->len = 0;
  ProtobufCMessage *m = unpack(&arrow__flight__protocol__handshake_request__descriptor, data, len,
                               "HandshakeRequest", err);
  if (m == NULL) return MALLARD_INVALID_ARGUMENT;
  Arrow__Flight__Protocol__HandshakeRequest *pb = (Arrow__Flight__Protocol__HandshakeRequest *)m;
  *version = pb->protocol_version;
  mlr_code rc = flight_bytes_copy(payload, pb->payload.data, pb->payload.len, err);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

mlr_code flight_action_type_encode(const char *type, const char *description, uint8_t **out,
                                   size_t *len, mlr_error *err) {
  Arrow__Flight__Protocol__ActionType pb = ARROW__FLIGHT__PROTOCOL__ACTION_TYPE__INIT;
  pb.type = (char *)(type != NULL ? type : "");
  pb.description = (char *)(description != NULL ? description : "");
  return pack(&pb.base, out, len, err);
}
