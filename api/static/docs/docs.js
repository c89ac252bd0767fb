// Swagger UI over this server's own OpenAPI document. The key typed into "Authorize" is kept in localStorage
// (persistAuthorization), and "Try it out" calls this same server.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  if (typeof SwaggerUIBundle !== "function") {
    document.getElementById("swagger-ui").textContent =
      "Swagger UI is not installed: run scripts/ensure-assets.sh (make run does). The document is at /openapi.json.";
    return;
  }
  window.ui = SwaggerUIBundle({
    url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, persistAuthorization: true,
    displayRequestDuration: true, defaultModelsExpandDepth: 0, docExpansion: "list", filter: true,
    tryItOutEnabled: false, validatorUrl: null,
  });
});
