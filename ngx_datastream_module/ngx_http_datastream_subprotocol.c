/*
 * The WebSocket subprotocol of the handshake answer: for a client
 * subprotocol other than its own, nchan answers with an empty
 * Sec-WebSocket-Protocol header and browsers then abort. This header
 * filter fills in the subprotocol that was authorized (ds_pick_subprotocol,
 * the same choice the authorization made), or drops the empty header.
 */

#include "ngx_http_datastream_module.h"


static ngx_http_output_header_filter_pt  ds_next_header_filter;


static ngx_int_t
ds_ws_header_filter(ngx_http_request_t *r)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_str_t        *offered, chosen;
    ngx_uint_t        i;

    if (r != r->main || r->headers_out.status != NGX_HTTP_SWITCHING_PROTOCOLS) {
        return ds_next_header_filter(r);
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].value.len != 0
            || h[i].key.len != sizeof("Sec-WebSocket-Protocol") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Sec-WebSocket-Protocol",
                               h[i].key.len) != 0)
        {
            continue;
        }

        offered = ds_header_in(r, "Sec-WebSocket-Protocol",
                               sizeof("Sec-WebSocket-Protocol") - 1);

        if (offered && ds_pick_subprotocol(offered->data, offered->len, &chosen)
                       == NGX_OK)
        {
            h[i].value = chosen;
        } else {
            h[i].hash = 0;
        }
    }

    return ds_next_header_filter(r);
}


ngx_int_t
ds_subprotocol_filter_init(ngx_conf_t *cf)
{
    ds_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ds_ws_header_filter;

    return NGX_OK;
}
