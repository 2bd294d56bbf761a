// Images as the API returns them (base64) turned into blob: URLs the page may show and
// download (the CSP allows img-src blob:, and no fetch of data: URLs is needed).
export function blobUrl(b64, format = "png") {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return URL.createObjectURL(new Blob([bytes], { type: `image/${format}` }));
}

// Server-sent events from a fetch body: yields each event's parsed JSON data.
export async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut = buffer.indexOf("\n\n");
    while (cut >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n");
      if (data && data !== "[DONE]") yield JSON.parse(data);
      cut = buffer.indexOf("\n\n");
    }
  }
}
