/* libFuzzer target: FlightData protobuf decoding, then the IPC decode of its header/body as the
 * server does. Input: records of [u16 LE length][FlightData bytes], all fed to one decoder. */
#include "arrow/arrowc_buf.h"
#include "flight/flight_types.h"
#include "ipc/ipc.h"
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ipc_decoder *dec = NULL;
  if (ipc_decoder_new(NULL, &dec, NULL) != MALLARD_OK) return 0;
  size_t pos = 0;
  while (size - pos >= 2) {
    size_t n = (size_t)data[pos] | ((size_t)data[pos + 1] << 8);
    pos += 2;
    if (n > size - pos) n = size - pos;
    /* A fresh exact-size allocation so that any over-read is caught by ASan. */
    arrowc_buf *msg = arrowc_buf_alloc((int64_t)n);
    if (msg == NULL) break;
    if (n > 0) memcpy(arrowc_buf_mutable_data(msg), data + pos, n);
    pos += n;
    flight_data fd;
    memset(&fd, 0, sizeof fd);
    mlr_error err;
    memset(&err, 0, sizeof err);
    mlr_code rc = flight_data_decode(msg, &fd, &err);
    arrowc_buf_unref(msg);
    if (rc != MALLARD_OK) continue;
    if (fd.data_header != NULL && fd.data_header_len > 0) {
      ipc_message_type type = IPC_MESSAGE_NONE;
      struct ArrowArray arr;
      memset(&arr, 0, sizeof arr);
      rc = ipc_decoder_decode(dec, fd.data_header, (int64_t)fd.data_header_len, fd.body, &type,
                              &arr, &err);
      if (rc == MALLARD_OK && type == IPC_MESSAGE_RECORD_BATCH && arr.release != NULL)
        arr.release(&arr);
    }
    flight_data_release(&fd);
  }
  ipc_decoder_free(dec);
  return 0;
}
