// The JSON form of sendMail ({"message": {...}, "saveToSentItems": false}), built from the
// parsed message (common/mime) for save_to_sent_items = no: the MIME form always leaves a copy
// in Sent Items and has no switch for it. It keeps subject, one body (HTML when there is one,
// else the text), From, Reply-To, the envelope recipients (recipients.h), importance, X-
// headers, and every other leaf as a fileAttachment (inline images with contentId and
// isInline); it loses the MIME tree, the text alternative next to HTML, charsets (all UTF-8),
// transfer encodings, DKIM signatures and most standard headers. Pure; any thread; never fails.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/mime/parser.h"
#include "deliver-graph/recipients.h"

namespace mailrelay::graph {

// X- header fields Graph's internetMessageHeaders can carry (Graph takes only x- names):
// every X- field except X-MS-Exchange-* (Exchange's own, which it strips or refuses).
bool IsPassableHeader(std::string_view name);

// "attachment-<n>.<ext>" for a part without a file name (Graph wants one), the extension from
// the content type ("bin" when unknown); n counts from 1.
std::string MadeUpAttachmentName(size_t n, std::string_view content_type);

// The request body. `notes` (may be null) collects what could not be carried, for the log.
std::string BuildJsonRequest(const mime::ParsedMessage& message, const RecipientSplit& recipients,
                             std::vector<std::string>* notes);

}  // namespace mailrelay::graph
