export * as imdb from './imdb.js'
