/* Poison messages go to JetStream subject dlq.<original subject> with their original bytes
 * and headers saying why. */
#ifndef DSC_DEAD_LETTER_H
#define DSC_DEAD_LETTER_H

#include <nats/nats.h>
#include <stdint.h>

int dsc_dead_letter_publish(jsCtx *js, natsMsg *msg, const char *reason, uint64_t stream_seq,
                            uint64_t deliveries);

#endif
