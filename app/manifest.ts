import type { MetadataRoute } from "next";

/** Served at /manifest.webmanifest: lets a member put the panel on a phone's home screen. */
export default function manifest(): MetadataRoute.Manifest {
  return {
    name: "zaphod",
    short_name: "zaphod",
    description: "Your VM on the shared Linux server: start, reboot, console, snapshots.",
    id: "/",
    start_url: "/",
    scope: "/",
    display: "standalone",
    background_color: "#fafaf9",
    theme_color: "#0f766e",
    icons: [
      { src: "/icons/icon.svg", type: "image/svg+xml", sizes: "any", purpose: "any" },
      { src: "/icons/icon-192.png", type: "image/png", sizes: "192x192", purpose: "any" },
      { src: "/icons/icon-512.png", type: "image/png", sizes: "512x512", purpose: "any" },
      { src: "/icons/icon-maskable-512.png", type: "image/png", sizes: "512x512", purpose: "maskable" },
    ],
  };
}
