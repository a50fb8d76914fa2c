/** Search attributes the rotation workflow keeps current, registered on the dev server by `dev`. */
export const SEARCH_ATTRIBUTES = {
  ClientId: 'Keyword',
  ServiceId: 'Keyword',
  RotationStatus: 'Keyword',
} as const;
